/**
 * SecurityDatastore: the operations every app needs on its users and roles, the way Flask-Security's
 * SQLAlchemyUserDatastore does them, each with its trap handled: case-insensitive lookups, no duplicate role
 * links, atomic login counters, typed errors before anything is written.
 *
 * Every public operation runs through `retryingConflicts`: a deadlock or serialization failure is retried, and
 * any other database error leaves as a DatabaseOperationError without the statement's values (secrets).
 */
import { validate } from "class-validator";
import { In } from "typeorm";
import type { DataSource, EntityManager, ObjectLiteral, QueryRunner, Repository, SelectQueryBuilder } from "typeorm";
import { DuplicateValueError, InvalidFieldsError, InvalidListItemError, MissingColumnError, UnknownRoleError } from "../errors";
import { listItemProblem, parseCommaList } from "../lists";
import { isDuplicateKey, retryingConflicts, uniqueField } from "./database-errors";
import { unstorableFields } from "./storable";
import { oneAtATimeOnSqlite } from "./sqlite-queue";
import type { RoleMixinV1 } from "../role/v1";
import type { UserBase } from "../user/base";
import { dialectOf, quotedTable } from "../schema/operations";
import { requireNaiveUtc } from "../datetime";

type Class<T> = abstract new (...args: never[]) => T;

/** Lookup options. */
export interface FindOptions {
  /** Load `roles` (and their permissions) in the same query, for `hasRole` / `hasPermission`. */
  withRoles?: boolean;
}

/** The fields of a new user: the entity's own properties, and roles by name or as entities. */
export type NewUser<U, R> = Partial<Omit<U, "roles">> & { email: string; roles?: Array<string | R> };

/** The fields of a new role; permissions as a list or a comma string (`"read, write"`). */
export type NewRole<R> = Partial<Omit<R, "permissions">> & { name: string; permissions?: string[] | string };

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
  }

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
   * Creates a user: `active` true and fresh uniquifiers unless given, roles by name or entity. Validates every
   * field first (InvalidFieldsError), refuses an email or username another user has in any letter case
   * (DuplicateValueError) and unknown roles (UnknownRoleError); writes nothing in any of those cases.
   * `password` must already be a hash.
   */
  async createUser(fields: NewUser<U, R>): Promise<U> {
    const { roles: wanted = [], ...columns } = fields;
    const user = this.users().create(columns as unknown as U);
    await this.validateEntity(user, this.User);
    const username = "username" in user ? (user as { username?: string | null }).username : null;
    // The conditions first: on MariaDB/MySQL the first one asks information_schema on a second pooled
    // connection, which concurrent transactions holding the whole pool would wait for forever.
    const sameEmail = await this.sameInAnyCase("email");
    const sameUsername = username ? await this.sameInAnyCase("username") : "";
    return this.onUsers(() =>
      this.dataSource
        .transaction(async (manager) => {
          user.roles = await this.resolveRoles(wanted, manager);
          await this.refuseTaken(manager, "email", sameEmail, user.email);
          if (username) await this.refuseTaken(manager, "username", sameUsername, username);
          return this.users(manager).save(user as U & ObjectLiteral);
        })
        .catch(async (error) => {
          if (!isDuplicateKey(error)) throw error;
          // A unique index refused the row: a given uniquifier already taken, or a concurrent createUser that won
          // the race for the same email or username (the index's name says which, except when it is unnamed).
          const field =
            uniqueField(this.dataSource, this.dataSource.getMetadata(this.User), error) ??
            ((await this.users().exists({ where: { email: user.email } as never })) ? "email" : "username");
          throw new DuplicateValueError(this.User.name, field, "duplicate", `another user already has this ${field}`);
        }),
    );
  }

  /** The user with this email in any letter case (Flask-Security's identity lookup), or null. */
  findUserByEmail(email: string, options: FindOptions = {}): Promise<U | null> {
    return this.onUsers(async () =>
      this.userQuery(options)
        .where(await this.sameInAnyCase("email"), { value: email })
        .getOne(),
    );
  }

  /** The user with this username in any letter case, or null. */
  async findUserByUsername(username: string, options: FindOptions = {}): Promise<U | null> {
    this.requireColumn("username", "the username lookup");
    return this.onUsers(async () =>
      this.userQuery(options)
        .where(await this.sameInAnyCase("username"), { value: username })
        .getOne(),
    );
  }

  /** The user a session belongs to (its `fs_uniquifier`), or null. Inactive users are returned too. */
  findUserByUniquifier(fsUniquifier: string, options: FindOptions = {}): Promise<U | null> {
    return this.onUsers(() => this.userQuery(options).where(`user.fsUniquifier = :fsUniquifier`, { fsUniquifier }).getOne());
  }

  /** The user an auth token belongs to (its `fs_token_uniquifier`, V2+), or null. */
  findUserByTokenUniquifier(fsTokenUniquifier: string, options: FindOptions = {}): Promise<U | null> {
    this.requireColumn("fsTokenUniquifier", "the token-uniquifier lookup (UserMixinV2 or later)");
    return this.onUsers(() => this.userQuery(options).where(`user.fsTokenUniquifier = :fsTokenUniquifier`, { fsTokenUniquifier }).getOne());
  }

  /** Deletes the user; its role links go with it (ON DELETE CASCADE). True when a user was deleted. */
  async deleteUser(user: U): Promise<boolean> {
    const result = await this.onUsers(() => this.users().delete(user.id));
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

  /** Flips `active` in the database (atomically) and returns the new value. */
  async toggleActive(user: U): Promise<boolean> {
    const { active } = await this.onUsers(async () => {
      await this.users()
        .createQueryBuilder()
        .update()
        .set({ active: () => "NOT active" } as never)
        .where("id = :id", { id: user.id })
        .updateEntity(false)
        .execute();
      return this.users().findOneOrFail({ where: { id: user.id } as never, select: { id: true, active: true } as never });
    });
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
   * Records a sign-in (trackable): the current login time and address become the last ones, `at` and `ip`
   * the current ones, and `login_count` grows by one, in one UPDATE, so concurrent logins lose no count.
   * The user object is updated the same way from its own values (no second query): reload it to see
   * sign-ins recorded elsewhere meanwhile.
   */
  async recordLogin(user: U, ip: string | null, at: Date = new Date()): Promise<void> {
    const column = this.dataSource.getMetadata(this.User).findColumnWithPropertyName("currentLoginAt")!;
    const when = this.dataSource.driver.preparePersistentValue(at, column);
    await this.onUsers(() => this.dataSource.query(this.recordLoginSql(), [when, ip, user.id]));
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
      const touched = metadata.updateDateColumn
        ? `, ${this.dataSource.driver.escape(metadata.updateDateColumn.databaseName)} = CURRENT_TIMESTAMP`
        : "";
      this.loginSql = this.positional(
        `UPDATE ${quotedTable(this.dataSource, metadata)} SET ${c("lastLoginAt")} = ${c("currentLoginAt")}, ${c("currentLoginAt")} = ?, ` +
          `${c("lastLoginIp")} = ${c("currentLoginIp")}, ${c("currentLoginIp")} = ?, ${c("loginCount")} = COALESCE(${c("loginCount")}, 0) + 1${touched} ` +
          `WHERE ${c("id")} = ?`,
      );
    }
    return this.loginSql;
  }

  // ---- Roles -----------------------------------------------------------------------------------

  /** The role with this exact name, or null. */
  findRole(name: string): Promise<R | null> {
    return this.onRoles(() => this.roles().findOne({ where: { name } as never }));
  }

  /** Creates a role; permissions as a list or a comma string. Validates first; refuses a taken name. */
  async createRole(fields: NewRole<R>): Promise<R> {
    const { permissions, ...columns } = fields;
    const role = this.roles().create({ ...columns, permissions: toPermissionList(permissions, this.Role.name) } as never) as unknown as R;
    await this.validateEntity(role, this.Role);
    return this.onRoles(() =>
      this.dataSource.transaction(async (manager) => {
        if (await this.roles(manager).exists({ where: { name: role.name } as never })) {
          throw new DuplicateValueError(this.Role.name, "name", "duplicate", `another role is already named ${JSON.stringify(role.name)}`);
        }
        return this.roles(manager).save(role as R & ObjectLiteral);
      }),
    );
  }

  /** The role with this name, created (with `fields`) when there is none. */
  async findOrCreateRole(name: string, fields: Omit<NewRole<R>, "name"> = {} as Omit<NewRole<R>, "name">): Promise<R> {
    return (await this.findRole(name)) ?? this.createRole({ ...fields, name } as NewRole<R>);
  }

  /**
   * Gives the user the role (by name or entity). False when the user already had it: the link is never
   * duplicated, even by concurrent calls. UnknownRoleError for a name no role has.
   */
  async addRoleToUser(user: U, role: string | R): Promise<boolean> {
    const [target] = await this.onRoles(() => this.resolveRoles([role]));
    const links = this.linkTable();
    const params = [user.id, target.id, user.id, target.id];
    const dialect = dialectOf(this.dataSource);
    const from = dialect === "mysql" ? " FROM DUAL" : "";
    const sql = this.positional(
      `INSERT INTO ${links} (user_id, role_id) SELECT ?, ?${from} WHERE NOT EXISTS (SELECT 1 FROM ${links} WHERE user_id = ? AND role_id = ?)`,
    );
    return this.onUsers(async () => {
      try {
        return (await this.run(sql, params)) > 0;
      } catch (error) {
        if (isDuplicateKey(error)) return false; // a concurrent call linked it first
        throw error;
      }
    });
  }

  /** Takes the role (by name or entity) from the user. False when the user did not have it. */
  async removeRoleFromUser(user: U, role: string | R): Promise<boolean> {
    const [target] = await this.onRoles(() => this.resolveRoles([role]));
    const sql = this.positional(`DELETE FROM ${this.linkTable()} WHERE user_id = ? AND role_id = ?`);
    return this.onUsers(async () => (await this.run(sql, [user.id, target.id])) > 0);
  }

  /** Adds permissions (list or comma string) to the role, keeping its order. False when it had them all. */
  addPermissionsToRole(role: R | string, permissions: string[] | string): Promise<boolean> {
    return this.changePermissions(role, permissions, (held, given) => [...held, ...given.filter((p) => !held.includes(p))]);
  }

  /** Removes permissions (list or comma string) from the role. False when it had none of them. */
  removePermissionsFromRole(role: R | string, permissions: string[] | string): Promise<boolean> {
    return this.changePermissions(role, permissions, (held, given) => held.filter((p) => !given.includes(p)));
  }

  // ---- Internals -------------------------------------------------------------------------------

  private userQuery(options: FindOptions): SelectQueryBuilder<U> {
    const query = this.users().createQueryBuilder("user");
    return options.withRoles ? query.leftJoinAndSelect("user.roles", "role") : query;
  }

  private ignoresCase?: Promise<Set<string>>;

  /**
   * The condition "`user.<property>` equals `:value` in any letter case". Where the column's collation already
   * ignores case (MariaDB/MySQL `_ci`, their default), plain equality, which can use the unique index; on
   * SQLite `= … COLLATE NOCASE` (ASCII letters, as its LOWER()), which the V3 NOCASE email index serves;
   * elsewhere `LOWER(…) = LOWER(…)`, which the V3 `lower(email)` index serves on PostgreSQL.
   */
  private async sameInAnyCase(property: "email" | "username"): Promise<string> {
    if (dialectOf(this.dataSource) === "mysql") {
      this.ignoresCase ??= this.dataSource
        .query(
          `SELECT COLUMN_NAME AS name, COLLATION_NAME AS collation FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`,
          [this.dataSource.getMetadata(this.User).tableName],
        )
        .then(
          (rows: Array<{ name: string; collation: string | null }>) =>
            new Set(rows.filter((r) => /_ci$/.test(r.collation ?? "")).map((r) => r.name)),
        )
        .catch((error) => {
          this.ignoresCase = undefined; // ask again next time
          throw error;
        });
      const column = this.dataSource.getMetadata(this.User).findColumnWithPropertyName(property)!.databaseName;
      if ((await this.ignoresCase).has(column)) return `user.${property} = :value`;
    }
    if (dialectOf(this.dataSource) === "sqlite") return `user.${property} = :value COLLATE NOCASE`;
    return `LOWER(user.${property}) = LOWER(:value)`;
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

  /** The operation on the users, retried on deadlocks; database errors leave without values (database-errors.ts). */
  private onUsers<T>(operation: () => Promise<T>): Promise<T> {
    return oneAtATimeOnSqlite(this.dataSource, () => retryingConflicts(this.dataSource, this.dataSource.getMetadata(this.User), operation));
  }

  /** The operation on the roles, retried on deadlocks; database errors leave without values. */
  private onRoles<T>(operation: () => Promise<T>): Promise<T> {
    return oneAtATimeOnSqlite(this.dataSource, () => retryingConflicts(this.dataSource, this.dataSource.getMetadata(this.Role), operation));
  }

  /** class-validator's rules, then what every database needs to store each string unchanged (storable.ts). */
  private async validateEntity(entity: object, target: Class<unknown>): Promise<void> {
    const errors = await validate(entity, { forbidUnknownValues: false });
    const problems = errors.map((e) => ({
      field: e.property,
      rule: Object.keys(e.constraints ?? { invalid: "" })[0],
      message: Object.values(e.constraints ?? { invalid: `${e.property} is invalid` }).join(", "),
    }));
    for (const problem of unstorableFields(this.dataSource.getMetadata(target), entity)) {
      if (!problems.some((p) => p.field === problem.field)) problems.push(problem);
    }
    if (problems.length > 0) throw new InvalidFieldsError(target.name, problems);
  }

  private async refuseTaken(manager: EntityManager, property: "email" | "username", sameInAnyCase: string, value: string): Promise<void> {
    const taken = await this.users(manager).createQueryBuilder("user").where(sameInAnyCase, { value }).getExists();
    if (taken) {
      throw new DuplicateValueError(
        this.User.name,
        property,
        "duplicate",
        `another user already has this ${property} (compared in any letter case)`,
      );
    }
  }

  private async resolveRoles(wanted: Array<string | R>, manager: EntityManager = this.dataSource.manager): Promise<R[]> {
    const names = wanted.filter((r): r is string => typeof r === "string");
    const found = names.length > 0 ? await this.roles(manager).find({ where: { name: In(names) } as never }) : [];
    const missing = names.filter((name) => !found.some((role) => role.name === name));
    if (missing.length > 0) {
      throw new UnknownRoleError(
        this.User.name,
        "roles",
        "unknown-role",
        `no role is named ${missing.map((n) => JSON.stringify(n)).join(", ")}; create it first (createRole or findOrCreateRole)`,
      );
    }
    return wanted.map((r) => (typeof r === "string" ? found.find((role) => role.name === r)! : r));
  }

  private async setActive(user: U, active: boolean): Promise<boolean> {
    const result = await this.onUsers(() =>
      this.users()
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
    await this.onUsers(() => this.users().update(user.id, identity as never));
  }

  private async changePermissions(
    role: R | string,
    permissions: string[] | string,
    change: (held: string[], given: string[]) => string[],
  ): Promise<boolean> {
    const given = toPermissionList(permissions, this.Role.name) ?? [];
    const name = typeof role === "string" ? role : role.name;
    const lock = dialectOf(this.dataSource) === "sqlite" ? {} : { lock: { mode: "pessimistic_write" as const } };
    return this.onRoles(() =>
      this.dataSource.transaction(async (manager) => {
        // Read-modify-write under a row lock, so concurrent changes to one role lose nothing.
        const stored = await this.roles(manager).findOne({ where: { name } as never, ...lock });
        if (!stored) throw new UnknownRoleError(this.Role.name, "name", "unknown-role", `no role is named ${JSON.stringify(name)}`);
        const held = stored.permissions ?? [];
        const next = change(held, given);
        if (next.length === held.length && next.every((p, i) => p === held[i])) return false;
        await this.roles(manager).update(stored.id, { permissions: next } as never);
        if (typeof role !== "string") role.permissions = next;
        return true;
      }),
    );
  }

  /** The join table of the User entity's `roles`, quoted (with its schema), as the mixins declare it. */
  private linkTable(): string {
    const links = this.dataSource.getMetadata(this.User).findRelationWithPropertyPath("roles")?.junctionEntityMetadata;
    if (!links)
      throw new MissingColumnError(this.User.name, "roles", "missing-relation", "role changes need the roles relation of the user mixins");
    return quotedTable(this.dataSource, links);
  }

  /** `?` placeholders as the driver wants them. */
  private positional(sql: string): string {
    if (dialectOf(this.dataSource) !== "postgres") return sql;
    let n = 0;
    return sql.replace(/\?/g, () => `$${++n}`);
  }

  /** Runs a statement and returns how many rows it changed. */
  private async run(sql: string, params: unknown[]): Promise<number> {
    const runner: QueryRunner = this.dataSource.createQueryRunner();
    try {
      const result = await runner.query(sql, params, true);
      return Number(result.affected ?? 0);
    } finally {
      await runner.release();
    }
  }
}

/** Permissions from a list or a comma string (`"read, write"`), each item checked. */
function toPermissionList(permissions: string[] | string | undefined, entity: string): string[] | undefined {
  if (permissions === undefined) return undefined;
  const list = typeof permissions === "string" ? parseCommaList(permissions) : permissions;
  list.forEach((item, index) => {
    const problem = listItemProblem(item);
    if (problem) throw new InvalidListItemError(entity, "permissions", problem.rule, `item ${index + 1} ${problem.reason}`);
  });
  return list;
}
