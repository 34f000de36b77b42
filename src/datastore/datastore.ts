/**
 * SecurityDatastore: the operations every app needs on its users and roles, the way Flask-Security's
 * SQLAlchemyUserDatastore does them, each with its trap handled: case-insensitive lookups, no duplicate role
 * links, atomic login counters, typed errors before anything is written.
 *
 * Every public operation runs through `retryingConflicts`: a deadlock or serialization failure is retried, and
 * any other database error leaves as a DatabaseOperationError without the statement's values (secrets).
 */
import type { DataSource, DeepPartial, EntityManager, Repository, SelectQueryBuilder } from "typeorm";
import { DuplicateValueError, InvalidFieldsError, MissingColumnError } from "../errors";
import { isDuplicateKey, uniqueField } from "./database-errors";
import { type CollisionColumn, inTransactionLocking } from "./identity-lock";
import { lowerCase } from "./letter-case";
import { AnyCaseLookups, sameInAnyCase } from "./any-case";
import type { AnyCaseCondition } from "./any-case";
import { newRowFields, SECURITY_OWNED_USER_FIELDS } from "./owned-fields";
import type { SecurityOwnedUserField } from "./owned-fields";
import { RoleOperations } from "./role-operations";
import type { NewRole, SecurityFieldsOfRole } from "./role-operations";
import { insertRow, onTableOf, positional, returnedRows, validateEntity, type Class } from "./statements";
import type { RoleMixinV1 } from "../role/v1";
import type { UserBase } from "../user/base";
import { dialectOf } from "../database/dialect";
import { quotedTable } from "../database/quoting";
import { requireNaiveUtc } from "../datetime";
import { RefreshTrackerOperations } from "../refresh/operations";
import type { CleanupOptions, ExchangeOptions, RefreshExchange } from "../refresh/operations";
import type { RefreshTrackerMixinV1 } from "../refresh/v1";
import { accessResetFields, resetAccessRows } from "./reset-access";

export type { NewRole, SecurityFieldsOfRole } from "./role-operations";

/** Lookup options. */
export interface FindOptions {
  /** Load `roles` (and their permissions) in the same query, for `hasRole` / `hasPermission`. */
  withRoles?: boolean;
}

/**
 * The fields of a new user that its owner may choose (email, username, password hash, the app's own columns):
 * what `createUser` takes as its first argument, which may come from a request. Fields the security machinery
 * owns (identity tokens, sign-in tracking, `confirmedAt`, `tf*`/`us*` settings, recovery codes, row datetimes)
 * and `roles` are refused there: they go in the second argument, `SecurityFieldsOfUser`.
 */
export type NewUser<U> = Partial<Omit<U, SecurityOwnedUserField | "id" | "webauthn">> & { email: string };

/**
 * What the app's own code sets on a new user on purpose: `roles` (by name, or role entities, matched by name)
 * and any field, including those the security machinery owns (an import, a test). `createUser`'s second
 * argument; where it and the first set the same field, this one wins.
 */
export type SecurityFieldsOfUser<U, R> = Partial<Omit<U, "id" | "roles" | "webauthn">> & { roles?: Array<string | R> };

/**
 * The datastore over an app's User and Role entities (any schema version):
 * `const store = new SecurityDatastore(dataSource, User, Role)`.
 */
export class SecurityDatastore<U extends UserBase, R extends RoleMixinV1> {
  /** @throws NaiveUtcRequiredError when the DataSource's options did not go through `withNaiveUtc` (or lost its settings). */
  constructor(
    /** The app's DataSource, with the User and Role entities registered. */
    readonly dataSource: DataSource,
    /** The app's User entity class. */
    readonly User: Class<U>,
    /** The app's Role entity class. */
    readonly Role: Class<R>,
  ) {
    requireNaiveUtc(dataSource, "SecurityDatastore");
    this.anyCase = new AnyCaseLookups(dataSource, () => dataSource.getMetadata(User));
    this.roleOperations = new RoleOperations(dataSource, User, Role);
  }

  /** Case-insensitive lookups on the user table (any-case.ts). */
  private readonly anyCase: AnyCaseLookups;

  /** Roles and role links (role-operations.ts). */
  private readonly roleOperations: RoleOperations<U, R>;

  /** The User repository, in `manager`'s transaction when given. */
  users(manager: EntityManager = this.dataSource.manager): Repository<U> {
    return manager.getRepository(this.User);
  }

  /** The Role repository, in `manager`'s transaction when given. */
  roles(manager: EntityManager = this.dataSource.manager): Repository<R> {
    return manager.getRepository(this.Role);
  }

  // ---- Users -----------------------------------------------------------------------------------

  /**
   * Inserts a new user, never touching an existing one: `active` true and fresh uniquifiers unless given.
   * `fields` are the owner's (email, username, password hash, the app's columns) and may come from a request;
   * `trusted` is what the app's code sets on purpose: `roles` (by name or entity) and any field the security
   * machinery owns. Validates every field first (InvalidFieldsError, naming each refused field: an owned one
   * in `fields`, an id anywhere, an unknown one), refuses an email or username another user has in any letter
   * case (DuplicateValueError) and unknown roles (UnknownRoleError); writes nothing in any of those cases.
   * `password` must already be a hash.
   */
  async createUser(fields: NewUser<U>, trusted: SecurityFieldsOfUser<U, R> = {}): Promise<U> {
    const metadata = this.dataSource.getMetadata(this.User);
    const { roles: wanted, ...columns } = newRowFields(metadata, fields, trusted, {
      operation: "createUser",
      owned: SECURITY_OWNED_USER_FIELDS,
      relations: ["roles"],
    });
    const roleNames = this.roleOperations.namesOf(wanted);
    const build = () => this.users().create({ ...columns } as DeepPartial<U>);
    const candidate = build();
    await validateEntity(this.dataSource, candidate, this.User);
    const email = candidate.email;
    const username = metadata.findColumnWithPropertyName("username") ? (candidate as { username?: string | null }).username : null;
    // The conditions first: on MariaDB/MySQL the first one asks information_schema on a second pooled
    // connection, which concurrent transactions holding the whole pool would wait for forever.
    const sameEmail = await this.anyCase.condition("email", email, "refusal");
    const sameUsername = username ? await this.anyCase.condition("username", username, "refusal") : undefined;
    const locks = [`${metadata.tableName}.email:${lowerCase(email)}`];
    if (username) locks.push(`${metadata.tableName}.username:${lowerCase(username)}`);
    return this.onUsers((primary) =>
      inTransactionLocking(primary, locks, this.collisionColumn(), async (manager) => {
        const roles = await this.roleOperations.resolve(roleNames, manager);
        await this.refuseTaken(manager, "email", sameEmail, email);
        if (username && sameUsername) await this.refuseTaken(manager, "username", sameUsername, username);
        // A fresh entity each try: a retried attempt must not carry the id of a rolled-back one.
        const user = build();
        await insertRow(manager, this.User, user);
        if (roles.length > 0) {
          await manager
            .createQueryBuilder()
            .relation(this.User, "roles")
            .of(user.id)
            .add(roles.map((role) => role.id));
        }
        user.roles = roles;
        return user;
      }).catch(async (error) => {
        if (!isDuplicateKey(error)) throw error;
        // A unique index refused the row: a given uniquifier already taken, or a value the database's own
        // comparison finds taken where the datastore's does not (MariaDB's `_ci` collations also ignore accents).
        const field =
          uniqueField(this.dataSource, metadata, error) ??
          ((await this.users(primary).exists({ where: { email } as never })) ? "email" : "username");
        throw new DuplicateValueError(
          this.User.name,
          field,
          "duplicate",
          `another user already has this ${field} (as the database compares it)`,
        );
      }),
    );
  }

  /** The user with this email in any letter case (Flask-Security's identity lookup), or null. */
  findUserByEmail(email: string, options: FindOptions = {}): Promise<U | null> {
    return this.findInAnyCase("email", email, options);
  }

  /** The user with this username in any letter case, or null. */
  async findUserByUsername(username: string, options: FindOptions = {}): Promise<U | null> {
    this.requireColumn("username", "the username lookup");
    return this.findInAnyCase("username", username, options);
  }

  /** The user a session belongs to (its `fs_uniquifier`), or null. Inactive users are returned too. */
  findUserByUniquifier(fsUniquifier: string, options: FindOptions = {}): Promise<U | null> {
    return this.onUsers((manager) =>
      this.userQuery(manager, options).where(`user.fsUniquifier = :fsUniquifier`, { fsUniquifier }).getOne(),
    );
  }

  /** The user an auth token belongs to (its `fs_token_uniquifier`, V2+), or null. */
  findUserByTokenUniquifier(fsTokenUniquifier: string, options: FindOptions = {}): Promise<U | null> {
    this.requireColumn("fsTokenUniquifier", "the token-uniquifier lookup (UserMixinV2 or later)");
    // '' is no token: it marks, on MariaDB, the users an online upgrade has not given one yet.
    if (!fsTokenUniquifier) return Promise.resolve(null);
    return this.onUsers((manager) =>
      this.userQuery(manager, options).where(`user.fsTokenUniquifier = :fsTokenUniquifier`, { fsTokenUniquifier }).getOne(),
    );
  }

  /** Deletes the user; its role links go with it (ON DELETE CASCADE). True when a user was deleted. */
  async deleteUser(user: U): Promise<boolean> {
    const result = await this.onUsers((manager) => this.users(manager).delete(user.id));
    return (result.affected ?? 0) > 0;
  }

  /** Lets the user sign in again. True when that changed anything. */
  activateUser(user: U): Promise<boolean> {
    return this.setActive(user, true);
  }

  /** Stops the user from signing in, keeping the row. True when that changed anything. */
  deactivateUser(user: U): Promise<boolean> {
    return this.setActive(user, false);
  }

  /**
   * Flips `active` in the database and returns the value this call wrote (under concurrent toggles, each call
   * gets its own flip's value): one `UPDATE … RETURNING` on PostgreSQL and SQLite, a locked read-modify-write
   * on MariaDB/MySQL (which have no `UPDATE … RETURNING`).
   */
  async toggleActive(user: U): Promise<boolean> {
    const metadata = this.dataSource.getMetadata(this.User);
    const table = quotedTable(this.dataSource, metadata);
    const c = (property: string) => this.dataSource.driver.escape(metadata.findColumnWithPropertyName(property)!.databaseName);
    const active = await this.onUsers(async (primary) => {
      if (dialectOf(this.dataSource) !== "mysql") {
        const rows = await returnedRows(
          primary,
          positional(
            this.dataSource,
            `UPDATE ${table} SET ${c("active")} = NOT ${c("active")}${this.touched()} WHERE ${c("id")} = ? RETURNING ${c("active")} AS active`,
          ),
          [user.id],
        );
        return rows.length > 0 ? toBoolean(rows[0].active) : undefined;
      }
      return primary.transaction(async (manager) => {
        const [row] = await manager.query(`SELECT ${c("active")} AS active FROM ${table} WHERE ${c("id")} = ? FOR UPDATE`, [user.id]);
        if (!row) return undefined;
        const flipped = !toBoolean(row.active);
        await manager.query(`UPDATE ${table} SET ${c("active")} = ?${this.touched()} WHERE ${c("id")} = ?`, [flipped, user.id]);
        return flipped;
      });
    });
    if (active === undefined) {
      throw new InvalidFieldsError(this.User.name, [{ field: "id", rule: "exists", message: "no user has this id (deleted meanwhile?)" }]);
    }
    user.active = active;
    return active;
  }

  /** Signs the user out everywhere (new session and, V2+, token identity), saved at once. */
  async rotateUniquifier(user: U): Promise<void> {
    user.rotateUniquifier();
    await this.saveIdentity(user);
  }

  /** Invalidates the user's auth tokens only (V2+), saved at once. */
  async rotateTokenUniquifier(user: U): Promise<void> {
    this.requireColumn("fsTokenUniquifier", "rotating the token uniquifier (UserMixinV2 or later)");
    (user as unknown as { rotateTokenUniquifier(): void }).rotateTokenUniquifier();
    await this.saveIdentity(user);
  }

  /**
   * Flask-Security's `reset_user_access`, after a compromise, in one transaction: both uniquifiers rotated
   * (every session and auth token ends), unified sign-in and two-factor secrets and phones cleared, recovery
   * codes and passkeys removed (V3+), refresh trackers revoked (V4+); the password stays. A failure or a killed
   * process leaves the user as it was. The user object gets the new values.
   * @throws InvalidFieldsError naming `id` when no user has this id.
   */
  async resetUserAccess(user: U): Promise<void> {
    const metadata = this.dataSource.getMetadata(this.User);
    if (!Number.isSafeInteger(user?.id))
      throw new InvalidFieldsError(this.User.name, [
        { field: "id", rule: "isSavedUser", message: "user must be a saved user (with an id)" },
      ]);
    const fields = accessResetFields(metadata);
    const now = new Date();
    const found = await this.onUsers((primary) =>
      primary.transaction(async (manager) => {
        if (!(await resetAccessRows(manager, metadata, user.id, fields))) return false;
        await this.refreshTrackerOperations.revokeAllOf(manager, user.id, now);
        return true;
      }),
    );
    if (!found)
      throw new InvalidFieldsError(this.User.name, [{ field: "id", rule: "exists", message: "no user has this id (deleted meanwhile?)" }]);
    Object.assign(user, fields);
  }

  // ---- Refresh trackers (UserMixinV4: refresh/operations.ts) -----------------------------------------

  private refreshTrackerOps?: RefreshTrackerOperations<U>;

  private get refreshTrackerOperations(): RefreshTrackerOperations<U> {
    this.refreshTrackerOps ??= new RefreshTrackerOperations<U>(this.dataSource, this.User);
    return this.refreshTrackerOps;
  }

  /**
   * A new refresh-token family for `user`: `refreshFamily` from the CSPRNG, generation 1, last used now
   * (Flask-Security's `create_refresh_tracker`). Put the family and `gen` in the signed token.
   * @throws InvalidFieldsError naming a bad `name` or `expiresAt`; MissingColumnError before UserMixinV4.
   */
  createRefreshTracker(user: U, fields: { name: string; expiresAt: Date }): Promise<RefreshTrackerMixinV1> {
    return this.refreshTrackerOperations.create(user, fields);
  }

  /** The tracker of a refresh token's family, or null (Flask-Security's `find_refresh_tracker`). */
  findRefreshTracker(refreshFamily: string): Promise<RefreshTrackerMixinV1 | null> {
    return this.refreshTrackerOperations.find(refreshFamily);
  }

  /**
   * Exchanges the refresh token of `refreshFamily` at generation `gen`: when it is the current generation and
   * the family is neither revoked nor expired, moves it to `gen + 1` in one conditional UPDATE (`exchanged`);
   * of concurrent exchanges of one generation exactly one wins. A token at any other generation is `reused`
   * and the family is revoked at once; `revoked`, `expired` and `not-found` refuse.
   */
  exchangeRefreshTracker(refreshFamily: string, gen: number, options?: ExchangeOptions): Promise<RefreshExchange<RefreshTrackerMixinV1>> {
    return this.refreshTrackerOperations.exchange(refreshFamily, gen, options);
  }

  /** Revokes a family (sign-out of one client); true when it was valid until now. */
  revokeRefreshTracker(refreshFamily: string): Promise<boolean> {
    return this.refreshTrackerOperations.revoke(refreshFamily);
  }

  /** Deletes expired (default) and/or revoked trackers, of one user or all, in one statement; returns how many. */
  cleanupRefreshTrackers(options?: CleanupOptions<U>): Promise<number> {
    return this.refreshTrackerOperations.cleanup(options);
  }

  /**
   * Records a sign-in (trackable): the current login time and address become the last ones, `at` and `ip`
   * the current ones, and `login_count` grows by one, in one UPDATE, so concurrent logins lose no count.
   * The user object is updated the same way from its own values (no second query): reload it to see
   * sign-ins recorded elsewhere meanwhile.
   */
  async recordLogin(user: U, ip: string | null, at: Date = new Date()): Promise<void> {
    const column = this.dataSource.getMetadata(this.User).findColumnWithPropertyName("currentLoginAt")!;
    const when = this.dataSource.driver.preparePersistentValue(at, column);
    await this.onUsers((manager) => manager.query(this.recordLoginSql(), [when, ip, user.id]));
    Object.assign(user, {
      lastLoginAt: user.currentLoginAt ?? null,
      currentLoginAt: at,
      lastLoginIp: user.currentLoginIp ?? null,
      currentLoginIp: ip,
      loginCount: (user.loginCount ?? 0) + 1,
    });
  }

  private loginSql?: string;

  /**
   * The sign-in UPDATE, built once: it runs on every sign-in, so it goes to the driver as plain SQL. SET order
   * matters on MariaDB/MySQL, which read earlier assignments: last_* take the old current_*.
   */
  private recordLoginSql(): string {
    if (!this.loginSql) {
      const metadata = this.dataSource.getMetadata(this.User);
      const c = (property: string) => this.dataSource.driver.escape(metadata.findColumnWithPropertyName(property)!.databaseName);
      this.loginSql = positional(
        this.dataSource,
        `UPDATE ${quotedTable(this.dataSource, metadata)} SET ${c("lastLoginAt")} = ${c("currentLoginAt")}, ${c("currentLoginAt")} = ?, ` +
          `${c("lastLoginIp")} = ${c("currentLoginIp")}, ${c("currentLoginIp")} = ?, ${c("loginCount")} = COALESCE(${c("loginCount")}, 0) + 1${this.touched()} ` +
          `WHERE ${c("id")} = ?`,
      );
    }
    return this.loginSql;
  }

  // ---- Roles (role-operations.ts) ---------------------------------------------------------------

  /**
   * The role with this exact name, or null. Exact also where the column's collation is not (MariaDB/MySQL
   * `_ci`: `Admin` does not find `admin`): a role check must never grant a look-alike.
   */
  findRole(name: string): Promise<R | null> {
    return this.roleOperations.find(name);
  }

  /**
   * Inserts a new role, never touching an existing one; permissions as a list or a comma string. Validates
   * first; refuses a taken name (DuplicateValueError) and an id (the database assigns it). `trusted` sets, on
   * purpose, what the security machinery owns (`updateDatetime`, for an import).
   */
  createRole(fields: NewRole<R>, trusted: SecurityFieldsOfRole<R> = {}): Promise<R> {
    return this.roleOperations.create(fields, trusted);
  }

  /**
   * The role with this exact name, created (with `fields`) when there is none. Concurrent calls for one name
   * all return the one role that got created.
   */
  findOrCreateRole(
    name: string,
    fields: Omit<NewRole<R>, "name"> = {} as Omit<NewRole<R>, "name">,
    trusted: SecurityFieldsOfRole<R> = {},
  ): Promise<R> {
    return this.roleOperations.findOrCreate(name, fields, trusted);
  }

  /**
   * Gives the user the role (by name or entity). False when the user already had it: the link is never
   * duplicated, even by concurrent calls. UnknownRoleError for a name no role has.
   */
  addRoleToUser(user: U, role: string | R): Promise<boolean> {
    return this.roleOperations.addToUser(user, role);
  }

  /** Takes the role (by name or entity) from the user. False when the user did not have it. */
  removeRoleFromUser(user: U, role: string | R): Promise<boolean> {
    return this.roleOperations.removeFromUser(user, role);
  }

  /** Adds permissions (list or comma string) to the role, keeping its order. False when it had them all. */
  addPermissionsToRole(role: R | string, permissions: string[] | string): Promise<boolean> {
    return this.roleOperations.addPermissions(role, permissions);
  }

  /** Removes permissions (list or comma string) from the role. False when it had none of them. */
  removePermissionsFromRole(role: R | string, permissions: string[] | string): Promise<boolean> {
    return this.roleOperations.removePermissions(role, permissions);
  }

  // ---- Internals -------------------------------------------------------------------------------

  private userQuery(manager: EntityManager, options: FindOptions): SelectQueryBuilder<U> {
    const query = this.users(manager).createQueryBuilder("user");
    return options.withRoles ? query.leftJoinAndSelect("user.roles", "role") : query;
  }

  /** The user with `value` in `property` in any letter case (letter-case.ts), or null. */
  private async findInAnyCase(property: "email" | "username", value: string, options: FindOptions): Promise<U | null> {
    if (typeof value !== "string") {
      throw new InvalidFieldsError(this.User.name, [{ field: property, rule: "isString", message: `${property} must be a string` }]);
    }
    const condition = await this.anyCase.condition(property, value, "lookup");
    const found = await this.onUsers((manager) => this.userQuery(manager, options).where(condition.where, condition.parameters).getMany());
    return sameInAnyCase(found, property, value)[0] ?? null;
  }

  private requireColumn(property: string, what: string): void {
    if (!this.dataSource.getMetadata(this.User).findColumnWithPropertyName(property)) {
      throw new MissingColumnError(
        this.User.name,
        property,
        "missing-column",
        `${what} needs the ${property} column, which this entity does not have`,
      );
    }
  }

  /**
   * The operation on the users, on the primary with causal reads (primary.ts), retried on deadlocks; database
   * errors leave without values (database-errors.ts).
   */
  private onUsers<T>(operation: (manager: EntityManager) => Promise<T>): Promise<T> {
    return onTableOf(this.dataSource, this.User, operation);
  }

  /** Where a sign-up's locks are written on a Galera node (identity-lock.ts): the Role table's unique name. */
  private collisionColumn(): CollisionColumn {
    const metadata = this.dataSource.getMetadata(this.Role);
    const name = metadata.findColumnWithPropertyName("name")!.databaseName;
    return { table: quotedTable(this.dataSource, metadata), column: this.dataSource.driver.escape(name) };
  }

  private async refuseTaken(
    manager: EntityManager,
    property: "email" | "username",
    condition: AnyCaseCondition,
    value: string,
  ): Promise<void> {
    const candidates = await this.users(manager)
      .createQueryBuilder("user")
      .select(["user.id", `user.${property}`])
      .where(condition.where, condition.parameters)
      .getMany();
    if (sameInAnyCase(candidates, property, value).length > 0) {
      throw new DuplicateValueError(
        this.User.name,
        property,
        "duplicate",
        `another user already has this ${property} (compared in any letter case)`,
      );
    }
  }

  private async setActive(user: U, active: boolean): Promise<boolean> {
    const result = await this.onUsers((manager) =>
      this.users(manager)
        .createQueryBuilder()
        .update()
        .set({ active } as never)
        .where("id = :id AND active <> :active", { id: user.id, active })
        .updateEntity(false)
        .execute(),
    );
    user.active = active;
    return (result.affected ?? 0) > 0;
  }

  private async saveIdentity(user: U): Promise<void> {
    const identity: Record<string, unknown> = { fsUniquifier: user.fsUniquifier };
    if ("fsTokenUniquifier" in user) identity.fsTokenUniquifier = (user as { fsTokenUniquifier: string }).fsTokenUniquifier;
    await this.onUsers((manager) => this.users(manager).update(user.id, identity as never));
  }

  /** `, update_datetime = CURRENT_TIMESTAMP` for a raw UPDATE of a user, when the entity has the column. */
  private touched(): string {
    const column = this.dataSource.getMetadata(this.User).updateDateColumn;
    return column ? `, ${this.dataSource.driver.escape(column.databaseName)} = CURRENT_TIMESTAMP` : "";
  }
}

/** A boolean as the drivers return it: PostgreSQL `true`, SQLite `1`, MariaDB/MySQL `1` or `"1"`. */
function toBoolean(value: unknown): boolean {
  return value === true || Number(value) === 1;
}
