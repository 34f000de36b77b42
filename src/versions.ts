/**
 * The released schema versions, one row each: the mixins whose TypeORM metadata is that version's tables, the
 * shipped migrations that reach it, and what tells it apart in a database. Everything that knows versions reads
 * this table (the frozen metadata the migrations build from, the migration lists, status, adoption, the
 * feature checks, the command line), so a new version is a new row plus its new files.
 */
import type { MigrationInterface } from "typeorm";
import { declaresIndex } from "./columns/facts";
import { SecurityV1CreateTables1795737600000 } from "../migrations/1795737600000-SecurityV1CreateTables";
import { SecurityV2TokenUniquifierUniqueUsername1795737660000 } from "../migrations/1795737660000-SecurityV2TokenUniquifierUniqueUsername";
import { SecurityV3WebAuthnRecoveryCodes1795737720000 } from "../migrations/1795737720000-SecurityV3WebAuthnRecoveryCodes";
import { SecurityV4RefreshTrackers1795737780000 } from "../migrations/1795737780000-SecurityV4RefreshTrackers";
import { RefreshTrackerMixinV1 } from "./refresh/v1";
import { RoleMixinV1 } from "./role/v1";
import type { UserBase } from "./user/base";
import { UserMixinV1 } from "./user/v1";
import { UserMixinV2 } from "./user/v2";
import { EMAIL_CASE_INSENSITIVE_INDEX, UserMixinV3 } from "./user/v3";
import { UserMixinV4 } from "./user/v4";
import { WebAuthnMixinV1 } from "./webauthn/v1";

/** A table of rows each owned by one user (ON DELETE CASCADE, user_id NOT NULL), reached by a user relation. */
export interface UserChildTable {
  /** Its key in `SecurityTableNames` and `FrozenSchema`. */
  readonly key: string;
  /** The mixin its entity extends. */
  readonly mixin: abstract new () => object;
  /** The relation of the user mixin that lists its rows; the child's relation back is `user`. */
  readonly userProperty: string;
  /** Its table name when the app's User entity has no such relation. */
  readonly defaultName: string;
  /** What one row is, for people (`credential`). */
  readonly rowName: string;
}

/** A shipped migration class. */
export type SecurityMigration = new () => MigrationInterface & { name: string };

/** One released schema version. */
export interface SchemaVersionRow {
  readonly version: number;
  /** The user mixin of this version: an app's User entity at this version extends it. */
  readonly user: abstract new () => UserBase;
  readonly role: abstract new () => RoleMixinV1;
  /** The user's child tables at this version, parents before the tables that reference them. */
  readonly children: readonly UserChildTable[];
  /**
   * The shipped migrations from the version before to this one, in order (one or more). A function: the
   * migrations import the schema code that reads this table, so the classes are looked up when asked, and
   * loading a migration file first still works.
   */
  readonly migrations: () => readonly SecurityMigration[];
  /**
   * What a database (or an entity) at this version has that the version before lacks: user columns and child
   * tables (by key), all of them. A version that only adds a table names just the table.
   */
  readonly detect: { readonly userColumns: readonly string[]; readonly tables: readonly string[] };
  /**
   * User columns this version adds that Flask-Security's fsqla of the same number lacks: they tell this
   * package's schema from Flask-Security's, and adoption adds each as an identity token (a distinct random
   * 64-hex value per user).
   */
  readonly beyondFlaskSecurity: readonly string[];
  /**
   * Flask-Security's model modules with this version's tables (less `beyondFlaskSecurity`): the fsqla module's
   * number (`fsqla_v3`), the `sqla` family's (`sqla`: 1, `sqla_v2`: 2) when one has them, and the first
   * Flask-Security release that ships them.
   */
  readonly flaskSecurity: { readonly fsqla: number; readonly sqla: number | null; readonly since: string };
}

/** The passkeys and security keys of a user (Flask-Security's `web_authn` table), from version 3 on. */
export const WEBAUTHN_TABLE = {
  key: "webauthn",
  mixin: WebAuthnMixinV1,
  userProperty: "webauthn",
  defaultName: "web_authn",
  rowName: "credential",
} as const;

/** A user's refresh-token families (Flask-Security's `fs_refresh_tracker` table), from version 4 on. */
export const REFRESH_TRACKERS_TABLE = {
  key: "refreshTrackers",
  mixin: RefreshTrackerMixinV1,
  userProperty: "refreshTrackers",
  defaultName: "fs_refresh_tracker",
  rowName: "refresh tracker",
} as const;

/** Every released schema version, oldest first. */
export const SCHEMA_VERSIONS = [
  {
    version: 1,
    user: UserMixinV1,
    role: RoleMixinV1,
    children: [],
    migrations: () => [SecurityV1CreateTables1795737600000],
    detect: { userColumns: ["fs_uniquifier", "email"], tables: [] },
    beyondFlaskSecurity: [],
    flaskSecurity: { fsqla: 1, sqla: null, since: "3.3" },
  },
  {
    version: 2,
    user: UserMixinV2,
    role: RoleMixinV1,
    children: [],
    migrations: () => [SecurityV2TokenUniquifierUniqueUsername1795737660000],
    detect: { userColumns: ["us_totp_secrets"], tables: [] },
    beyondFlaskSecurity: ["fs_token_uniquifier"],
    flaskSecurity: { fsqla: 2, sqla: null, since: "3.4" },
  },
  {
    version: 3,
    user: UserMixinV3,
    role: RoleMixinV1,
    children: [WEBAUTHN_TABLE],
    migrations: () => [SecurityV3WebAuthnRecoveryCodes1795737720000],
    detect: { userColumns: ["fs_webauthn_user_handle", "mf_recovery_codes"], tables: [] },
    beyondFlaskSecurity: [],
    flaskSecurity: { fsqla: 3, sqla: 1, since: "5.0 (sqla: 5.5)" },
  },
  {
    version: 4,
    user: UserMixinV4,
    role: RoleMixinV1,
    children: [WEBAUTHN_TABLE, REFRESH_TRACKERS_TABLE],
    migrations: () => [SecurityV4RefreshTrackers1795737780000],
    detect: { userColumns: [], tables: ["refreshTrackers"] },
    beyondFlaskSecurity: [],
    flaskSecurity: { fsqla: 4, sqla: 2, since: "5.9" },
  },
] as const satisfies readonly SchemaVersionRow[];

/** A released schema version number. */
export type SchemaVersion = (typeof SCHEMA_VERSIONS)[number]["version"];

/** The key of a user child table of any version (`webauthn`). */
export type UserChildTableKey = (typeof SCHEMA_VERSIONS)[number]["children"][number]["key"];

/** A user child table of a released version. */
export type ReleasedChildTable = UserChildTable & { readonly key: UserChildTableKey };

/** A row of `SCHEMA_VERSIONS`, typed with its version number and child table keys. */
export type ReleasedVersion = Omit<SchemaVersionRow, "version" | "children"> & {
  readonly version: SchemaVersion;
  readonly children: readonly ReleasedChildTable[];
};

/** The newest released version. */
export const LATEST_VERSION: SchemaVersion = SCHEMA_VERSIONS[SCHEMA_VERSIONS.length - 1].version;

/** The row of `version`. */
export function schemaVersion(version: SchemaVersion): ReleasedVersion {
  return SCHEMA_VERSIONS.find((row) => row.version === version)!;
}

/** Whether `version` is a released version number. */
export function isSchemaVersion(version: number): version is SchemaVersion {
  return SCHEMA_VERSIONS.some((row) => row.version === version);
}

/** The shipped migrations that reach `version` from an empty database, in order. */
export function migrationsUpTo(version: SchemaVersion): SecurityMigration[] {
  return SCHEMA_VERSIONS.filter((row) => row.version <= version).flatMap((row) => [...row.migrations()]);
}

/** The shipped migrations after `version`, in order. */
export function migrationsAfter(version: SchemaVersion): SecurityMigration[] {
  return SCHEMA_VERSIONS.filter((row) => row.version > version).flatMap((row) => [...row.migrations()]);
}

/** The names TypeORM records for `migrations`. */
export function migrationNames(migrations: readonly SecurityMigration[]): string[] {
  return migrations.map((migration) => new migration().name);
}

/** Every user child table of any version, each once, oldest first. */
export function allChildTables(): ReleasedChildTable[] {
  return [...new Set(SCHEMA_VERSIONS.flatMap((row) => row.children))];
}

/** The first version that has the child table `key`. */
export function versionWithTable(key: UserChildTableKey): ReleasedVersion {
  return SCHEMA_VERSIONS.find((row) => row.children.some((child) => child.key === key))!;
}

/** What `detectVersion` asks of a database or an entity. */
export interface VersionEvidence {
  /** Whether the user table (or entity) has this column. */
  column(name: string): boolean;
  /** Whether the child table of this key exists (or the user entity relates to it). */
  table(key: string): boolean;
}

/**
 * The newest version whose markers (`detect`) are all there, or null when none's are. Each version is asked
 * for its own markers only, newest first.
 */
export function detectVersion(evidence: VersionEvidence): SchemaVersion | null {
  for (const row of [...SCHEMA_VERSIONS].reverse()) {
    const { userColumns, tables }: SchemaVersionRow["detect"] = row.detect;
    if (userColumns.every((name) => evidence.column(name)) && tables.every((key) => evidence.table(key))) return row.version;
  }
  return null;
}

/** The user columns of versions up to `version` that Flask-Security's fsqla lacks (see `beyondFlaskSecurity`). */
export function columnsBeyondFlaskSecurity(version: SchemaVersion): string[] {
  return SCHEMA_VERSIONS.filter((row) => row.version <= version).flatMap((row) => [...row.beyondFlaskSecurity]);
}

/** The mixins of the released user versions, as a phrase: `UserMixinV1, UserMixinV2, UserMixinV3 or UserMixinV4`. */
export function userMixinNames(): string {
  const names = SCHEMA_VERSIONS.map((row) => row.user.name);
  return names.length === 1 ? names[0] : `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`;
}

/**
 * Whether `version`'s user mixin names the index that refuses two emails differing only in letter case (from
 * version 3 on), which TypeORM cannot create: the migrations and adoption make it themselves.
 */
export function emailUniqueInAnyCase(version: SchemaVersion): boolean {
  return declaresIndex(schemaVersion(version).user, EMAIL_CASE_INSENSITIVE_INDEX);
}

/** The first version whose email is unique in any letter case (3). */
export function emailUniqueInAnyCaseSince(): SchemaVersion | undefined {
  return SCHEMA_VERSIONS.find((row) => emailUniqueInAnyCase(row.version))?.version;
}
