/**
 * Schema status: which version the database is at (this package's V1/V2/V3, a Flask-Security fsqla v1/v2/v3
 * schema, or unknown), which shipped migrations are pending, and whether TypeORM's schema builder sees drift.
 */
import type { DataSource, QueryRunner } from "typeorm";
import { requireNaiveUtc } from "../datetime";
import { appSecurityTables, defaultTableNames } from "../schema/app-tables";
import { caseInsensitiveUniqueRepair } from "../schema/operations";
import { EMAIL_CASE_INSENSITIVE_INDEX } from "../user/v3";
import {
  allChildTables,
  columnsBeyondFlaskSecurity,
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
  /** The schema version within the family (1, 2, 3), or null. */
  version: SchemaVersion | null;
  /** One line for people, e.g. `typeorm-security-models V2` or `Flask-Security fsqla v2`. */
  label: string;
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
 * The names in TypeORM's migrations table, where its runner keeps it: the DataSource's `migrationsTableName`
 * in the DataSource's `schema` (PostgreSQL), not necessarily where the security tables are.
 */
async function recordedMigrations(dataSource: DataSource, runner: QueryRunner): Promise<string[]> {
  const options = dataSource.options as { migrationsTableName?: string; schema?: string };
  const path = dataSource.driver.buildTableName(options.migrationsTableName ?? "migrations", options.schema);
  if (!(await runner.hasTable(path))) return [];
  const quoted = path
    .split(".")
    .map((part) => dataSource.driver.escape(part))
    .join(".");
  return (await runner.query(`SELECT name FROM ${quoted}`)).map((r: { name: string }) => r.name);
}

/**
 * Reads the schema status of the database behind an initialized DataSource. Changes nothing.
 * @throws NaiveUtcRequiredError when the DataSource's options did not go through `withNaiveUtc`.
 */
export async function securitySchemaStatus(dataSource: DataSource): Promise<SecuritySchemaStatus> {
  requireNaiveUtc(dataSource, "securitySchemaStatus");
  const runner = dataSource.createQueryRunner();
  try {
    let names = defaultTableNames();
    try {
      names = appSecurityTables(dataSource);
    } catch {
      // no mixin entities: look at the default table names
    }
    const inSchema = (table: string) => dataSource.driver.buildTableName(table, names.schema);
    const user = await runner.getTable(inSchema(names.user));
    const links = await runner.getTable(inSchema(names.links));
    const columns = new Set(user?.columns.map((c) => c.name) ?? []);
    const childTables = new Set<string>();
    for (const child of allChildTables()) if (await runner.hasTable(inSchema(names[child.key]))) childTables.add(child.key);
    const version = !user ? null : detectVersion({ column: (name) => columns.has(name), table: (key) => childTables.has(key) });
    const linksKeyed = (links?.primaryColumns.length ?? 0) === 2;
    const family: SecuritySchemaStatus["family"] = !user
      ? "empty"
      : version === null
        ? "unknown"
        : linksKeyed && columnsBeyondFlaskSecurity(version).every((name) => columns.has(name))
          ? "ours"
          : "flask-security";
    const label =
      family === "empty"
        ? "empty (no user table)"
        : family === "unknown"
          ? `unknown (table ${names.user} is neither a Flask-Security nor a typeorm-security-models schema)`
          : family === "ours"
            ? `typeorm-security-models V${version}`
            : `Flask-Security fsqla v${version}`;

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
      appliedMigrations,
      pendingMigrations,
      drift,
      ok: family === "ours" && pendingMigrations.length === 0 && drift.length === 0,
    };
  } finally {
    await runner.release();
  }
}
