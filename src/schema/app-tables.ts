/**
 * Which tables hold the app's users, roles and links. The shipped migrations take the names from the app's
 * own entities (`@Entity("accounts") class Account extends UserMixinV2`), so they follow whatever the app
 * called its tables.
 */
import type { DataSource, EntityMetadata } from "typeorm";
import { SecurityModelError } from "../errors";
import { UserBase } from "../user/base";
import { RoleMixinV1 } from "../role/v1";

/** The app's security tables, by role. */
export interface SecurityTableNames {
  user: string;
  role: string;
  /** The join table of `roles` (`roles_users`). */
  links: string;
}

/** The app registered no entity (or several) extending a mixin, so the migrations cannot know the tables. */
export class SecurityEntitiesNotFoundError extends SecurityModelError {}

function extending(connection: DataSource, base: abstract new () => unknown): EntityMetadata[] {
  return connection.entityMetadatas.filter(
    (m) => typeof m.target === "function" && m.target.prototype instanceof base && !m.isJunction,
  );
}

function single(connection: DataSource, base: abstract new () => unknown, label: string, mixins: string): EntityMetadata {
  const found = extending(connection, base);
  if (found.length === 1) return found[0];
  const message =
    found.length === 0
      ? `the security migrations need the app's ${label} entity, and no entity registered in the DataSource extends ${mixins}. ` +
        `Register it beside the migrations: new DataSource({ entities: [User, Role], migrations: [...securityMigrations] })`
      : `the security migrations need exactly one ${label} entity, and ${found.length} registered entities extend ${mixins} ` +
        `(${found.map((m) => m.name).join(", ")}). Use a DataSource with one of them to run the migrations.`;
  throw new SecurityEntitiesNotFoundError("DataSource", "entities", found.length === 0 ? `${label.toLowerCase()}-entity-missing` : `${label.toLowerCase()}-entity-ambiguous`, message);
}

/** The table names of the app's User and Role entities and of their join table. */
export function appSecurityTables(connection: DataSource): SecurityTableNames {
  const user = single(connection, UserBase, "User", "UserMixinV1 or UserMixinV2");
  const role = single(connection, RoleMixinV1, "Role", "RoleMixinV1");
  const roles = user.relations.find((r) => r.propertyName === "roles");
  return { user: user.tableName, role: role.tableName, links: roles?.junctionEntityMetadata?.tableName ?? "roles_users" };
}
