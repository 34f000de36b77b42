/**
 * The datastore's operations on roles and on users' role links (SecurityDatastore delegates to them): exact
 * names, links never duplicated, permissions changed under a row lock so concurrent changes lose nothing.
 */
import { In } from "typeorm";
import type { DataSource, DeepPartial, EntityManager, Repository } from "typeorm";
import { DuplicateValueError, InvalidFieldsError, InvalidListItemError, MissingColumnError, UnknownRoleError } from "../errors";
import { listItemProblem, parseCommaList } from "../lists";
import { dialectOf } from "../database/dialect";
import { quotedTable } from "../database/quoting";
import type { RoleMixinV1 } from "../role/v1";
import type { UserBase } from "../user/base";
import { isDuplicateKey } from "./database-errors";
import { newRowFields, SECURITY_OWNED_ROLE_FIELDS } from "./owned-fields";
import type { SecurityOwnedRoleField } from "./owned-fields";
import { affectedRows, insertRow, onTableOf, positional, validateEntity, type Class } from "./statements";

/** The fields of a new role; permissions as a list or a comma string (`"read, write"`). */
export type NewRole<R> = Partial<Omit<R, "permissions" | "id" | SecurityOwnedRoleField>> & {
  name: string;
  permissions?: string[] | string;
};

/** What the app sets on a new role on purpose beyond `NewRole` (`updateDatetime`, for an import). */
export type SecurityFieldsOfRole<R> = Partial<Omit<R, "id" | "permissions">> & { permissions?: string[] | string };

/** A role as a caller names it: by name, or a role entity (its name counts; its id, if any, must be that role's). */
export interface WantedRole {
  name: string;
  id?: unknown;
}

/** Roles and role links of one DataSource's User and Role entities. */
export class RoleOperations<U extends UserBase, R extends RoleMixinV1> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly User: Class<U>,
    private readonly Role: Class<R>,
  ) {}

  /** The role with this exact name, or null (see `SecurityDatastore.findRole`). */
  async find(name: string): Promise<R | null> {
    if (typeof name !== "string")
      throw new InvalidFieldsError(this.Role.name, [{ field: "name", rule: "isString", message: "name must be a string" }]);
    const found = await this.onRoles((manager) => this.roles(manager).find({ where: { name } as never }));
    return found.find((role) => role.name === name) ?? null;
  }

  /** Inserts a new role, never touching an existing one (see `SecurityDatastore.createRole`). */
  async create(fields: NewRole<R>, trusted: SecurityFieldsOfRole<R>): Promise<R> {
    const metadata = this.dataSource.getMetadata(this.Role);
    const { permissions, ...columns } = newRowFields(metadata, fields, trusted, {
      operation: "createRole",
      owned: SECURITY_OWNED_ROLE_FIELDS,
      relations: [],
    });
    const build = () => this.roles().create({ ...columns, permissions: toPermissionList(permissions, this.Role.name) } as DeepPartial<R>);
    const candidate = build();
    await validateEntity(this.dataSource, candidate, this.Role);
    const taken = () =>
      new DuplicateValueError(this.Role.name, "name", "duplicate", `another role is already named ${JSON.stringify(candidate.name)}`);
    return this.onRoles((primary) =>
      primary
        .transaction(async (manager) => {
          const same = await this.roles(manager).find({ where: { name: candidate.name } as never });
          if (same.some((role) => role.name === candidate.name)) throw taken();
          const role = build();
          await insertRow(manager, this.Role, role);
          return role;
        })
        .catch((error) => {
          if (!isDuplicateKey(error)) throw error;
          // A concurrent call made it first, or (MariaDB/MySQL `_ci`) a name the database's collation finds equal.
          throw new DuplicateValueError(
            this.Role.name,
            "name",
            "duplicate",
            `another role already has this name (as the database compares it: ${JSON.stringify(candidate.name)})`,
          );
        }),
    );
  }

  /** The role with this exact name, created when there is none (see `SecurityDatastore.findOrCreateRole`). */
  async findOrCreate(name: string, fields: Omit<NewRole<R>, "name">, trusted: SecurityFieldsOfRole<R>): Promise<R> {
    const found = await this.find(name);
    if (found) return found;
    try {
      return await this.create({ ...fields, name } as NewRole<R>, trusted);
    } catch (error) {
      if (!(error instanceof DuplicateValueError)) throw error;
      // Another call created it between our look and our insert: theirs is the role.
      const made = await this.find(name);
      if (made) return made;
      throw error;
    }
  }

  /** Links the user to the role; false when it already was (see `SecurityDatastore.addRoleToUser`). */
  async addToUser(user: U, role: string | R): Promise<boolean> {
    const [target] = await this.onRoles((manager) => this.resolve(this.namesOf([role]), manager));
    const links = this.linkTable();
    const params = [user.id, target.id, user.id, target.id];
    const from = dialectOf(this.dataSource) === "mysql" ? " FROM DUAL" : "";
    const sql = positional(
      this.dataSource,
      `INSERT INTO ${links} (user_id, role_id) SELECT ?, ?${from} WHERE NOT EXISTS (SELECT 1 FROM ${links} WHERE user_id = ? AND role_id = ?)`,
    );
    return this.onUsers(async (manager) => {
      try {
        return (await affectedRows(manager, sql, params)) > 0;
      } catch (error) {
        if (isDuplicateKey(error)) return false; // a concurrent call linked it first
        throw error;
      }
    });
  }

  /** Unlinks the user from the role; false when it was not linked. */
  async removeFromUser(user: U, role: string | R): Promise<boolean> {
    const [target] = await this.onRoles((manager) => this.resolve(this.namesOf([role]), manager));
    const sql = positional(this.dataSource, `DELETE FROM ${this.linkTable()} WHERE user_id = ? AND role_id = ?`);
    return this.onUsers(async (manager) => (await affectedRows(manager, sql, [user.id, target.id])) > 0);
  }

  /** Adds permissions to the role, keeping its order; false when it had them all. */
  addPermissions(role: R | string, permissions: string[] | string): Promise<boolean> {
    return this.changePermissions(role, permissions, (held, given) => [...held, ...given.filter((p) => !held.includes(p))]);
  }

  /** Removes permissions from the role; false when it had none of them. */
  removePermissions(role: R | string, permissions: string[] | string): Promise<boolean> {
    return this.changePermissions(role, permissions, (held, given) => held.filter((p) => !given.includes(p)));
  }

  /**
   * The role names of `roles` (names, or role entities: their names count), checked before anything is written.
   * @throws InvalidFieldsError naming `roles` for anything else (a string instead of a list, a number, null, an object without a name).
   */
  namesOf(roles: unknown): WantedRole[] {
    if (roles === undefined || roles === null) return [];
    const problem = (message: string) => new InvalidFieldsError(this.User.name, [{ field: "roles", rule: "isRoleList", message }]);
    if (!Array.isArray(roles)) throw problem("roles must be a list of role names or roles");
    return roles.map((role: unknown, index) => {
      if (typeof role === "string" && role !== "") return { name: role };
      if (typeof role === "object" && role !== null && typeof (role as { name?: unknown }).name === "string") {
        const { name, id } = role as { name: string; id?: unknown };
        return { name, id };
      }
      throw problem(`roles item ${index + 1} must be a role name or a role with a name`);
    });
  }

  /**
   * The stored roles of `wanted`, found by exact name, in `manager`'s transaction. A role entity whose id is not
   * that role's is refused: the link must go to the role the caller named, never to the row an id points at.
   */
  async resolve(wanted: WantedRole[], manager: EntityManager): Promise<R[]> {
    if (wanted.length === 0) return [];
    const names = [...new Set(wanted.map((role) => role.name))];
    const found = (await this.roles(manager).find({ where: { name: In(names) } as never })).filter((role) => names.includes(role.name));
    const byName = (name: string) => found.find((role) => role.name === name);
    const missing = names.filter((name) => !byName(name));
    if (missing.length > 0) {
      throw new UnknownRoleError(
        this.User.name,
        "roles",
        "unknown-role",
        `no role is named ${missing.map((n) => JSON.stringify(n)).join(", ")}; create it first (createRole or findOrCreateRole)`,
      );
    }
    wanted.forEach((role, index) => {
      if (role.id !== undefined && role.id !== byName(role.name)!.id) {
        throw new InvalidFieldsError(this.User.name, [
          {
            field: "roles",
            rule: "roleMismatch",
            message: `roles item ${index + 1} has the id of another role than the one its name names`,
          },
        ]);
      }
    });
    return names.map((name) => byName(name)!);
  }

  private roles(manager: EntityManager = this.dataSource.manager): Repository<R> {
    return manager.getRepository(this.Role);
  }

  private onRoles<T>(operation: (manager: EntityManager) => Promise<T>): Promise<T> {
    return onTableOf(this.dataSource, this.Role, operation);
  }

  private onUsers<T>(operation: (manager: EntityManager) => Promise<T>): Promise<T> {
    return onTableOf(this.dataSource, this.User, operation);
  }

  private async changePermissions(
    role: R | string,
    permissions: string[] | string,
    change: (held: string[], given: string[]) => string[],
  ): Promise<boolean> {
    const given = toPermissionList(permissions, this.Role.name) ?? [];
    const name = typeof role === "string" ? role : role.name;
    const lock = dialectOf(this.dataSource) === "sqlite" ? {} : { lock: { mode: "pessimistic_write" as const } };
    return this.onRoles((primary) =>
      primary.transaction(async (manager) => {
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
}

/** Permissions from a list or a comma string (`"read, write"`), each item checked. */
function toPermissionList(permissions: unknown, entity: string): string[] | undefined {
  if (permissions === undefined || permissions === null) return undefined;
  if (typeof permissions !== "string" && !Array.isArray(permissions)) {
    throw new InvalidListItemError(entity, "permissions", "list-type", "must be a list of strings or a comma string");
  }
  const list: unknown[] = typeof permissions === "string" ? parseCommaList(permissions) : permissions;
  list.forEach((item, index) => {
    const problem = listItemProblem(item);
    if (problem) throw new InvalidListItemError(entity, "permissions", problem.rule, `item ${index + 1} ${problem.reason}`);
  });
  return list as string[];
}
