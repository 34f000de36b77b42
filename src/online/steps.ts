/**
 * What each shipped upgrade changes, as data the online engine works from: the same frozen metadata (column
 * types, index names) the offline migration uses, so both end in the same schema. The version table
 * (`src/versions.ts`) says which migration each step stands in for and which tables it creates; a version
 * that only adds tables needs nothing more, one that changes the user table needs its recipe here.
 */
import type { DataSource, EntityMetadata } from "typeorm";
import type { ColumnMetadata } from "typeorm/metadata/ColumnMetadata";
import type { IndexMetadata } from "typeorm/metadata/IndexMetadata";
import { appSecurityTables, frozenSchema } from "../schema";
import { EMAIL_CASE_INSENSITIVE_INDEX } from "../user/v3";
import { migrationNames, SCHEMA_VERSIONS, schemaVersion, type SchemaVersion } from "../versions";

/** What every online step has. */
interface StepBase {
  /** The shipped migration it stands in for, as recorded in the migrations table. */
  migration: string;
  /** The schema version it reaches. */
  version: SchemaVersion;
  /** The user table at that version. */
  user: EntityMetadata;
  /** Tables it creates, parents first. */
  tables: EntityMetadata[];
}

/** A shipped upgrade that changes the user table (V1 to V2, V2 to V3): expand, backfill, indexes, contract. */
export interface ColumnsStep extends StepBase {
  kind: "columns";
  /** Columns it adds to the user table, in the offline migration's order. */
  columns: ColumnMetadata[];
  /** The added column every user gets a distinct random token in (old app versions' new users too). */
  token: ColumnMetadata;
  /** Existing NOT NULL columns that become nullable. */
  nullable: ColumnMetadata[];
  /** Unique indexes it builds, in the offline migration's order. */
  indexes: IndexMetadata[];
  /** Why existing columns become unique, for the message when existing rows break that. */
  uniqueBecause: string;
  /** A unique index on a column in any letter case (PostgreSQL `lower()`, SQLite `COLLATE NOCASE`). */
  caseInsensitive?: { column: string; index: string; why: string };
}

/** A shipped upgrade that only creates tables (V3 to V4): no existing row or column changes. */
export interface TablesStep extends StepBase {
  kind: "tables";
}

/** One shipped upgrade, for the online path. */
export type UpgradeStep = ColumnsStep | TablesStep;

type ColumnsRecipe = Omit<ColumnsStep, keyof StepBase | "kind">;

/** The user-table changes of the versions that make them, read from that version's frozen user metadata. */
const COLUMN_RECIPES: Partial<Record<SchemaVersion, (user: EntityMetadata) => ColumnsRecipe>> = {
  2: (user) => ({
    columns: columnsOf(user, ["us_totp_secrets", "us_phone_number", "fs_token_uniquifier"]),
    token: columnsOf(user, ["fs_token_uniquifier"])[0],
    nullable: [],
    indexes: uniqueOn(user, ["username", "fs_token_uniquifier"]),
    uniqueBecause: "schema version 2 makes username unique",
  }),
  3: (user) => ({
    columns: columnsOf(user, ["fs_webauthn_user_handle", "mf_recovery_codes"]),
    token: columnsOf(user, ["fs_webauthn_user_handle"])[0],
    nullable: columnsOf(user, ["password"]),
    indexes: uniqueOn(user, ["us_phone_number", "fs_webauthn_user_handle"]),
    uniqueBecause: "schema version 3 makes us_phone_number unique",
    caseInsensitive: {
      column: "email",
      index: EMAIL_CASE_INSENSITIVE_INDEX,
      why: "schema version 3 makes email unique in any letter case",
    },
  }),
};

function columnsOf(user: EntityMetadata, names: string[]): ColumnMetadata[] {
  return names.map((name) => user.findColumnWithDatabaseName(name)!);
}

function uniqueOn(user: EntityMetadata, columns: string[]): IndexMetadata[] {
  return user.indices.filter((index) => index.columns.length > 0 && columns.includes(index.columns[0].databaseName));
}

/** Whether `version` changes the user table (its markers name user columns), rather than only adding tables. */
function changesUserTable(version: SchemaVersion): boolean {
  return schemaVersion(version).detect.userColumns.length > 0;
}

/**
 * The versions a shipped upgrade reaches online, oldest first: every released version after the first that
 * stands in for one migration and either only adds tables or has a recipe of its user-table changes.
 */
export function onlineVersions(): SchemaVersion[] {
  return SCHEMA_VERSIONS.filter(
    (row) => row.version > 1 && row.migrations().length === 1 && (!changesUserTable(row.version) || COLUMN_RECIPES[row.version]),
  ).map((row) => row.version);
}

/** The shipped upgrade to `version` (one of `onlineVersions()`) on the app's tables. */
export async function upgradeStep(dataSource: DataSource, version: SchemaVersion): Promise<UpgradeStep> {
  const names = appSecurityTables(dataSource);
  const frozen = await frozenSchema(dataSource, version, names);
  const row = schemaVersion(version);
  const before = version > 1 ? schemaVersion((version - 1) as SchemaVersion).children.map((child) => child.key) : [];
  const base: StepBase = {
    migration: migrationNames(row.migrations())[0],
    version,
    user: frozen.user,
    tables: row.children.filter((child) => !before.includes(child.key)).map((child) => frozen[child.key]!),
  };
  const recipe = COLUMN_RECIPES[version];
  if (recipe) return { ...base, kind: "columns", ...recipe(frozen.user) };
  return { ...base, kind: "tables" };
}
