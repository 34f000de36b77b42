/**
 * Schema status: which version the database is at (this package's V1 to V4, a Flask-Security fsqla v1 to v4
 * or `sqla` family schema, or unknown), which shipped migrations are pending, and whether TypeORM's schema
 * builder sees drift.
 */
import type { DataSource, EntityMetadata, QueryRunner } from "typeorm";
import { requireNaiveUtc } from "../datetime";
import { appSecurityTables, defaultTableNames } from "../schema/app-tables";
import type { SecurityTableNames } from "../schema/app-tables";
import { frozenSchema } from "../schema/frozen";
import { caseInsensitiveUniqueRepair } from "../schema/operations";
import { EMAIL_CASE_INSENSITIVE_INDEX } from "../user/v3";
import {
  allChildTables,
  columnsBeyondFlaskSecurity,
  schemaVersion,
  detectVersion,
  emailUniqueInAnyCase,
  LATEST_VERSION,
  migrationNames,
  migrationsUpTo,
} from "../versions";
import type { SchemaVersion } from "../versions";

/** What `securitySchemaStatus` found. */
export interface SecuritySchemaStatus {
  /** `ours`: made by this package's migrations; `flask-security`: an fsqla schema; `empty`: no user table. */
  family: "ours" | "flask-security" | "unknown" | "empty";
  /** The schema version within the family (1 to 4), or null. */
  version: SchemaVersion | null;
  /**
   * One line for people, e.g. `typeorm-security-models V2`, `Flask-Security fsqla v2`, `Flask-Security sqla
   * v1` (its `roles_users` keyed by (user_id, role_id)), or `typeorm-security-models V3 with Flask-Security's
   * fs_refresh_tracker table (fsqla v4)`.
   */
  label: string;
  /**
   * Tables of a later version that Flask-Security made beside this package's schema (Flask-Security 5.9 adds
   * its `fs_refresh_tracker` to a V3 database): `version` is the one below them, and adoption brings them in.
   */
  flaskSecurityTables: string[];
  /** Shipped migrations recorded as applied, and those still to run, in order. */
  appliedMigrations: string[];
  pendingMigrations: string[];
  /**
   * The SQL TypeORM's schema builder would run to match the app's entities, plus, at V3, what restores the
   * index that refuses case-variant emails when something (a TypeORM table rebuild on SQLite) replaced it.
   * Empty: no drift.
   */
  drift: string[];
  /** True when the schema is ours, nothing shipped is pending and there is no drift. */
  ok: boolean;
}

/**
 * TypeORM's migrations table where its runner keeps it: the DataSource's `migrationsTableName` in the
 * DataSource's `schema` (PostgreSQL), not necessarily where the security tables are. `path` as TypeORM names
 * it (`schema.table`), `quoted` for raw SQL.
 */
export function migrationsTable(dataSource: DataSource): { path: string; quoted: string } {
  const options = dataSource.options as { migrationsTableName?: string; schema?: string };
  const path = dataSource.driver.buildTableName(options.migrationsTableName ?? "migrations", options.schema);
  const quoted = path
    .split(".")
    .map((part) => dataSource.driver.escape(part))
    .join(".");
  return { path, quoted };
}

/** The names in TypeORM's migrations table (none when it is not there yet). */
export async function recordedMigrations(dataSource: DataSource, runner: QueryRunner): Promise<string[]> {
  const table = migrationsTable(dataSource);
  if (!(await runner.hasTable(table.path))) return [];
  return (await runner.query(`SELECT name FROM ${table.quoted}`)).map((r: { name: string }) => r.name);
}

/** What the tables of the database are, before migrations and drift: the part adoption also reads. */
export interface SchemaShape {
  family: SecuritySchemaStatus["family"];
  version: SchemaVersion | null;
  /** The version the tables show, counting those Flask-Security made beside ours (`flaskSecurityTables`). */
  tablesVersion: SchemaVersion | null;
  label: string;
  flaskSecurityTables: string[];
  names: SecurityTableNames;
}

/**
 * The index names `metadata` declares that the live table lacks. The shipped migrations create every index
 * TypeORM names (unique ones included), where Flask-Security's SQLAlchemy makes unnamed UNIQUE constraints
 * and no index on a foreign key, so a missing name tells a table this package did not make.
 */
async function missingIndexes(runner: QueryRunner, metadata: EntityMetadata): Promise<string[]> {
  const table = await runner.getTable(metadata.tablePath);
  if (!table) return [];
  const present = new Set([...table.indices, ...table.uniques].map((index) => index.name));
  return metadata.indices
    .filter((index) => index.synchronize !== false && index.name && !present.has(index.name))
    .map((index) => index.name);
}

/** The app's table names, else Flask-Security's defaults (no mixin entity registered). */
function tableNamesOf(dataSource: DataSource): SecurityTableNames {
  try {
    return appSecurityTables(dataSource);
  } catch {
    return defaultTableNames();
  }
}

/** Reads which family and version the tables are (changes nothing). */
export async function schemaShape(dataSource: DataSource, runner: QueryRunner): Promise<SchemaShape> {
  const names = tableNamesOf(dataSource);
  const inSchema = (table: string) => dataSource.driver.buildTableName(table, names.schema);
  const user = await runner.getTable(inSchema(names.user));
  const links = await runner.getTable(inSchema(names.links));
  const columns = new Set(user?.columns.map((c) => c.name) ?? []);
  const childTables = new Set<string>();
  for (const child of allChildTables()) if (await runner.hasTable(inSchema(names[child.key]))) childTables.add(child.key);
  const detect = (tables: Set<string>) => detectVersion({ column: (name) => columns.has(name), table: (key) => tables.has(key) });
  const tablesVersion = !user ? null : detect(childTables);
  if (!user || tablesVersion === null) {
    const label = !user
      ? "empty (no user table)"
      : `unknown (table ${names.user} is neither a Flask-Security nor a typeorm-security-models schema)`;
    return { family: user ? "unknown" : "empty", version: null, tablesVersion, label, flaskSecurityTables: [], names };
  }
  const frozen = await frozenSchema(dataSource, tablesVersion, names);
  const linksKeyed = (links?.primaryColumns.length ?? 0) === 2;
  const coreOurs =
    linksKeyed &&
    columnsBeyondFlaskSecurity(tablesVersion).every((name) => columns.has(name)) &&
    (await missingIndexes(runner, frozen.user)).length === 0 &&
    (await missingIndexes(runner, frozen.role)).length === 0;
  if (!coreOurs) {
    // Flask-Security's `sqla` family keys roles_users by (user_id, role_id); its fsqla family does not.
    const { fsqla, sqla } = schemaVersion(tablesVersion).flaskSecurity;
    const label = linksKeyed && sqla !== null ? `Flask-Security sqla v${sqla}` : `Flask-Security fsqla v${fsqla}`;
    return { family: "flask-security", version: tablesVersion, tablesVersion, label, flaskSecurityTables: [], names };
  }
  const foreign: string[] = [];
  for (const child of schemaVersion(tablesVersion).children)
    if ((await missingIndexes(runner, frozen[child.key]!)).length > 0) foreign.push(child.key);
  if (foreign.length === 0) {
    return {
      family: "ours",
      version: tablesVersion,
      tablesVersion,
      label: `typeorm-security-models V${tablesVersion}`,
      flaskSecurityTables: [],
      names,
    };
  }
  const version = detect(new Set([...childTables].filter((key) => !foreign.includes(key))));
  const flaskSecurityTables = foreign.map((key) => names[key as keyof SecurityTableNames]!);
  const from = schemaVersion(tablesVersion).flaskSecurity.fsqla;
  const label = `typeorm-security-models V${version} with Flask-Security's ${flaskSecurityTables.join(", ")} table(s) (fsqla v${from})`;
  return { family: "ours", version, tablesVersion, label, flaskSecurityTables, names };
}

/**
 * Reads the schema status of the database behind an initialized DataSource. Changes nothing.
 * @throws NaiveUtcRequiredError when the DataSource's options did not go through `withNaiveUtc`.
 */
export async function securitySchemaStatus(dataSource: DataSource): Promise<SecuritySchemaStatus> {
  requireNaiveUtc(dataSource, "securitySchemaStatus");
  const runner = dataSource.createQueryRunner();
  try {
    const { family, version, label, flaskSecurityTables, names } = await schemaShape(dataSource, runner);

    const recorded = await recordedMigrations(dataSource, runner);
    // The shipped migrations the app registered (an app staying on V1 registers only V1), else all of them.
    const all = migrationNames(migrationsUpTo(LATEST_VERSION));
    const registered = dataSource.migrations.map((m) => m.name ?? m.constructor.name).filter((name) => all.includes(name));
    const shipped = registered.length > 0 ? registered : all;
    const appliedMigrations = shipped.filter((name) => recorded.includes(name));
    const pendingMigrations = shipped.filter((name) => !recorded.includes(name));

    const drift = (await dataSource.driver.createSchemaBuilder().log()).upQueries.map((q) => q.query);
    if (family === "ours" && emailUniqueInAnyCase(version!))
      drift.push(...(await caseInsensitiveUniqueRepair(runner, names.user, "email", EMAIL_CASE_INSENSITIVE_INDEX, names.schema)));
    return {
      family,
      version,
      label,
      flaskSecurityTables,
      appliedMigrations,
      pendingMigrations,
      drift,
      ok: family === "ours" && flaskSecurityTables.length === 0 && pendingMigrations.length === 0 && drift.length === 0,
    };
  } finally {
    await runner.release();
  }
}
