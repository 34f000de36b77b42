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
import { UserMixinV3 } from "../user/v3";
import { UserMixinV4 } from "../user/v4";

/** The app's security tables, by role. */
export interface SecurityTableNames {
  user: string;
  role: string;
  /** The join table of `roles` (`roles_users`). */
  links: string;
  /** The table of the user's `webauthn` credentials (`web_authn`), from version 3 on. */
  webauthn: string;
  /** The table of the user's `refreshTrackers` (`fs_refresh_tracker`), from version 4 on. */
  refreshTrackers: string;
  /**
   * The PostgreSQL schema of all of them, from the entities (`@Entity({ schema })`) or the DataSource's
   * `schema` option; undefined: the session's current schema.
   */
  schema?: string;
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
  const user = single(connection, UserBase, "User", "UserMixinV1, UserMixinV2, UserMixinV3 or UserMixinV4");
  const role = single(connection, RoleMixinV1, "Role", "RoleMixinV1");
  const roles = user.relations.find((r) => r.propertyName === "roles");
  const webauthn = user.relations.find((r) => r.propertyName === "webauthn");
  const refreshTrackers = user.relations.find((r) => r.propertyName === "refreshTrackers");
  const tables = [
    user,
    role,
    roles?.junctionEntityMetadata,
    webauthn?.inverseEntityMetadata,
    refreshTrackers?.inverseEntityMetadata,
  ].filter((m) => m !== undefined);
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
    webauthn: webauthn?.inverseEntityMetadata.tableName ?? "web_authn",
    refreshTrackers: refreshTrackers?.inverseEntityMetadata.tableName ?? "fs_refresh_tracker",
    ...(schemas[0] ? { schema: schemas[0] } : {}),
  };
}

/** The user mixin an app's User entity must extend for a migration to a schema version to run. */
const USER_MIXIN_OF_VERSION = { 3: UserMixinV3, 4: UserMixinV4 } as const;

/**
 * Stops a migration to `version` when the app's User entity is older: an app that registered every shipped
 * migration but still extends an older mixin would otherwise get columns its entity does not declare (and
 * TypeORM would then want to drop them).
 */
export function requireUserEntityAt(connection: DataSource, version: keyof typeof USER_MIXIN_OF_VERSION, migration: string): void {
  const user = single(connection, UserBase, "User", "UserMixinV1, UserMixinV2, UserMixinV3 or UserMixinV4");
  const mixin = USER_MIXIN_OF_VERSION[version];
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
