/**
 * Which tables hold the app's users, roles and links. The shipped migrations take the names from the app's
 * own entities (`@Entity("accounts") class Account extends UserMixinV2`), so they follow whatever the app
 * called its tables.
 */
import type { DataSource, EntityMetadata } from "typeorm";
import { SecurityModelError } from "../errors";
import { MigrationBlockedError } from "../errors";
import { UserBase } from "../user/base";
import { RoleMixinV1 } from "../role/v1";
import { allChildTables, schemaVersion, userMixinNames } from "../versions";
import type { SchemaVersion, UserChildTableKey } from "../versions";

/** The app's security tables, by role. */
export type SecurityTableNames = {
  user: string;
  role: string;
  /** The join table of `roles` (`roles_users`). */
  links: string;
  /**
   * The PostgreSQL schema of all of them, from the entities (`@Entity({ schema })`) or the DataSource's
   * `schema` option; undefined: the session's current schema.
   */
  schema?: string;
} & {
  /** Each child table of the user in any version (`webauthn`: its passkeys, `web_authn`), used or not. */
  [key in UserChildTableKey]: string;
};

/** The tables' names when no registered entity says otherwise: Flask-Security's (`user`, `role`, `roles_users`, …). */
export function defaultTableNames(): SecurityTableNames {
  const children = allChildTables().map((child) => [child.key, child.defaultName]);
  return { user: "user", role: "role", links: "roles_users", ...(Object.fromEntries(children) as Record<UserChildTableKey, string>) };
}

/** The app registered no entity (or several) extending a mixin, so the migrations cannot know the tables. */
export class SecurityEntitiesNotFoundError extends SecurityModelError {}

function extending(connection: DataSource, base: abstract new () => unknown): EntityMetadata[] {
  return connection.entityMetadatas.filter((m) => typeof m.target === "function" && m.target.prototype instanceof base && !m.isJunction);
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
  throw new SecurityEntitiesNotFoundError(
    "DataSource",
    "entities",
    found.length === 0 ? `${label.toLowerCase()}-entity-missing` : `${label.toLowerCase()}-entity-ambiguous`,
    message,
  );
}

/** The table names of the app's User and Role entities and of their join table. */
export function appSecurityTables(connection: DataSource): SecurityTableNames {
  const user = single(connection, UserBase, "User", userMixinNames());
  const role = single(connection, RoleMixinV1, "Role", "RoleMixinV1");
  const roles = user.relations.find((r) => r.propertyName === "roles");
  const children = allChildTables().map((child) => ({
    child,
    metadata: user.relations.find((r) => r.propertyName === child.userProperty)?.inverseEntityMetadata,
  }));
  const tables = [user, role, roles?.junctionEntityMetadata, ...children.map(({ metadata }) => metadata)].filter((m) => m !== undefined);
  const schemas = [...new Set(tables.map((m) => m.schema))];
  if (schemas.length > 1) {
    throw new SecurityEntitiesNotFoundError(
      "DataSource",
      "entities",
      "tables-in-several-schemas",
      `the security tables must all be in one schema, and the entities put them in ${tables.map((m) => `${m.tableName}: ${m.schema ?? "(default)"}`).join(", ")}. ` +
        `Give each of them the same @Entity({ schema }), or none and the DataSource's schema option.`,
    );
  }
  return {
    user: user.tableName,
    role: role.tableName,
    links: roles?.junctionEntityMetadata?.tableName ?? "roles_users",
    ...(Object.fromEntries(children.map(({ child, metadata }) => [child.key, metadata?.tableName ?? child.defaultName])) as Record<
      UserChildTableKey,
      string
    >),
    ...(schemas[0] ? { schema: schemas[0] } : {}),
  };
}

/**
 * Stops a migration to `version` when the app's User entity is older: an app that registered every shipped
 * migration but still extends an older mixin would otherwise get columns its entity does not declare (and
 * TypeORM would then want to drop them).
 */
export function requireUserEntityAt(connection: DataSource, version: SchemaVersion, migration: string): void {
  const user = single(connection, UserBase, "User", userMixinNames());
  const mixin = schemaVersion(version).user;
  if ((user.target as Function).prototype instanceof mixin) return;
  const older = `securityMigrationsV${version - 1}`;
  throw new MigrationBlockedError(
    user.name,
    "(entity)",
    "entity-older-than-migration",
    `${migration} upgrades the database to schema version ${version}, but the registered ${user.name} entity does not extend ${mixin.name}. ` +
      `Nothing was changed. Either extend ${mixin.name} (and register the entities of its relations) to upgrade, or register ` +
      `\`${older}\` instead of \`securityMigrations\` to stay on the older version.`,
  );
}
