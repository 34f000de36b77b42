/**
 * Adopting a database that Flask-Security made (fsqla v1, v2 or v3): brings its tables under this package's
 * shipped migrations without losing a user, a role or a link, so that the app's entities (drift-free) and
 * Flask-Security of the same version both keep using it.
 *
 * Flask-Security's version N becomes this package's VN (the matching one, the newest both sides can use
 * together); the shipped migrations up to VN are recorded as applied, and later ones stay pending for the
 * app to run when Flask-Security moves on too.
 *
 * How: each table is moved aside (`tsm_adopt_<name>`), created again exactly as the shipped migrations create
 * it (with the app's extra columns as they were), refilled with the same ids and values, and the old one
 * dropped. A rebuild is the one way that works on all three databases: SQLite cannot drop Flask-Security's
 * inline UNIQUE constraints or change a foreign key in place. On SQLite and PostgreSQL it is one transaction;
 * MariaDB/MySQL commit DDL at once, so there every step checks what is already done and a rerun after a
 * crash finishes the job (the rows move in one transaction and the old tables are dropped only after it).
 */
import { Table, TableColumn, TableForeignKey } from "typeorm";
import type { DataSource, EntityMetadata, QueryRunner } from "typeorm";
import { securityMigrations } from "../../migrations";
import { securitySchemaStatus } from "../checks/status";
import { requireNaiveUtc } from "../datetime";
import { SecurityModelError } from "../errors";
import { formatCommaList, parseCommaList } from "../lists";
import { addCaseInsensitiveUnique, appSecurityTables, frozenSchema } from "../schema";
import type { SecurityTableNames } from "../schema";
import { dialectOf } from "../database/dialect";
import { randomTokenSql } from "../schema/operations";
import type { Dialect } from "../database/dialect";
import type { FrozenSchema, SchemaVersion } from "../schema/frozen";
import { EMAIL_CASE_INSENSITIVE_INDEX } from "../user/v3";

/** Adoption cannot go ahead; nothing was changed. `problems` says why, each with what to do. */
export class AdoptionBlockedError extends SecurityModelError {
  constructor(readonly problems: string[]) {
    super("DataSource", "(database)", "adoption-blocked", `cannot adopt this database; nothing was changed:\n- ${problems.join("\n- ")}`);
  }
}

/** What `planFlaskSecurityAdoption` found and what `adoptFlaskSecurityDatabase` does (or did). */
export interface AdoptionPlan {
  /** What the database holds, e.g. `Flask-Security fsqla v2`. */
  found: string;
  /** `adopt`: a Flask-Security schema to bring in; `resume`: an adoption that stopped half-way; `done`: nothing to do; `blocked`: see `blockers`. */
  action: "adopt" | "resume" | "done" | "blocked";
  /** The schema version of this package the tables become (Flask-Security's version number). */
  toVersion: number | null;
  /** Every change, one line each, for people. */
  changes: string[];
  /** Why it cannot go ahead (empty when it can), each with what to do. */
  blockers: string[];
  /** The shipped migrations recorded as applied in the DataSource's migrations table. */
  recordMigrations: string[];
  /** What to do afterwards (pending migrations, the line Flask-Security's model needs). */
  afterwards: string[];
}

/** The Flask-Security model line an app needs beside this package's V2 and later. */
export const FLASK_SECURITY_TOKEN_UNIQUIFIER_LINE = "fs_token_uniquifier = Column(String(64), unique=True, nullable=False)";

const BACKUP_PREFIX = "tsm_adopt_";
const MAX_VERSION = securityMigrations.length;

interface Context {
  ds: DataSource;
  runner: QueryRunner;
  dialect: Dialect;
  names: SecurityTableNames;
  q: (name: string) => string;
}

/** The app's entity version, by the columns its User entity maps (each version adds one that says so). */
function appVersion(ds: DataSource, names: SecurityTableNames): number {
  const user = ds.entityMetadatas.find((m) => m.tableName === names.user && !m.isJunction);
  const has = (column: string) => !!user?.findColumnWithDatabaseName(column);
  return has("fs_webauthn_user_handle") ? 3 : has("fs_token_uniquifier") ? 2 : 1;
}

/** The tables adoption rebuilds at `version`, parents first (links and credentials reference users). */
const tablesOf = (names: SecurityTableNames, version: number) => [
  names.role,
  names.user,
  ...(version >= 3 ? [names.webauthn] : []),
  names.links,
];

async function count(c: Context, sql: string): Promise<number> {
  const [row] = await c.runner.query(sql);
  return Number(Object.values(row)[0]);
}

/** Counts of the link rows that cannot stay: NULL ends, ends that name no row, and repeats. */
async function linkCounts(c: Context, from: SecurityTableNames) {
  const [links, user, role] = [c.q(from.links), c.q(from.user), c.q(from.role)];
  const valid = `user_id IN (SELECT id FROM ${user}) AND role_id IN (SELECT id FROM ${role})`;
  const total = await count(c, `SELECT COUNT(*) AS n FROM ${links}`);
  const empty = await count(c, `SELECT COUNT(*) AS n FROM ${links} WHERE user_id IS NULL OR role_id IS NULL`);
  const dangling = await count(
    c,
    `SELECT COUNT(*) AS n FROM ${links} WHERE user_id IS NOT NULL AND role_id IS NOT NULL AND NOT (${valid})`,
  );
  const kept = await count(c, `SELECT COUNT(*) AS n FROM (SELECT DISTINCT user_id, role_id FROM ${links} WHERE ${valid}) AS t`);
  return { total, empty, dangling, duplicates: total - empty - dangling - kept, kept };
}

/** Roles whose permission list is not in the form both sides read alike (`a,b`: no spaces, no empty items). */
async function unevenPermissionLists(c: Context, role: string): Promise<Array<{ id: number; name: string; normal: string }>> {
  const rows: Array<{ id: number; name: string; permissions: string | null }> = await c.runner.query(
    `SELECT id, name, permissions FROM ${c.q(role)} WHERE permissions IS NOT NULL`,
  );
  return rows
    .map((r) => ({
      id: Number(r.id),
      name: r.name,
      permissions: r.permissions,
      normal: formatCommaList(parseCommaList(r.permissions), "Role", "permissions"),
    }))
    .filter((r) => r.normal !== r.permissions);
}

/** Foreign keys of other tables (in this database only) that point at the adopted ones: a rebuild would break them. */
async function referencingTables(c: Context, adopted: string[]): Promise<string[]> {
  const sql = {
    sqlite: `SELECT m.name AS source, f."table" AS target FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table'`,
    postgres: `SELECT c.relname AS source, p.relname AS target FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
                WHERE k.contype = 'f' AND p.relnamespace = to_regnamespace(current_schema())::oid`,
    mysql: `SELECT TABLE_NAME AS source, REFERENCED_TABLE_NAME AS target FROM information_schema.KEY_COLUMN_USAGE
             WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_SCHEMA = DATABASE()`,
  }[c.dialect];
  const rows: Array<{ source: string; target: string }> = await c.runner.query(sql);
  const found = rows.filter((r) => adopted.includes(r.target) && !adopted.includes(r.source)).map((r) => `${r.source} → ${r.target}`);
  return [...new Set(found)];
}

/**
 * The session's current PostgreSQL schema when the app's tables are in another one, else undefined. Adoption
 * names tables without a schema, so it works only where those names lead.
 */
async function outsideCurrentSchema(c: Context): Promise<string | undefined> {
  if (c.dialect !== "postgres" || !c.names.schema) return undefined;
  const [{ current }] = await c.runner.query(`SELECT current_schema() AS current`);
  return current === c.names.schema ? undefined : String(current);
}

function context(ds: DataSource, runner: QueryRunner): Context {
  let names: SecurityTableNames = {
    user: "user",
    role: "role",
    links: "roles_users",
    webauthn: "web_authn",
    refreshTrackers: "fs_refresh_tracker",
  };
  try {
    names = appSecurityTables(ds);
  } catch {
    // no mixin entities: the blockers say so
  }
  return { ds, runner, dialect: dialectOf(ds), names, q: (name) => ds.driver.escape(name) };
}

const backupNames = (names: SecurityTableNames): SecurityTableNames => ({
  user: BACKUP_PREFIX + names.user,
  role: BACKUP_PREFIX + names.role,
  links: BACKUP_PREFIX + names.links,
  refreshTrackers: BACKUP_PREFIX + names.refreshTrackers,
  webauthn: BACKUP_PREFIX + names.webauthn,
});

async function makePlan(c: Context): Promise<AdoptionPlan & { from: SecurityTableNames; backupsPresent: string[] }> {
  const { ds, runner, names } = c;
  requireNaiveUtc(ds, "adopt");
  const backups = backupNames(names);
  const backupsPresent: string[] = [];
  for (const name of tablesOf(backups, MAX_VERSION)) if (await runner.hasTable(name)) backupsPresent.push(name);
  const plan = {
    found: "",
    action: "adopt" as AdoptionPlan["action"],
    toVersion: null as number | null,
    changes: [] as string[],
    blockers: [] as string[],
    recordMigrations: [] as string[],
    afterwards: [] as string[],
    from: names,
    backupsPresent,
  };
  const migrationsTable = (ds.options as { migrationsTableName?: string }).migrationsTableName ?? "migrations";

  if (!ds.entityMetadatas.some((m) => m.tableName === names.user && !m.isJunction)) {
    plan.blockers.push(
      "the DataSource has no User entity extending a UserMixin: register the app's User and Role entities (entities: [User, Role]).",
    );
  }
  const outside = await outsideCurrentSchema(c);
  if (outside) {
    const status = await securitySchemaStatus(ds);
    plan.found = status.label;
    if (status.family === "ours") {
      plan.action = "done";
      plan.changes.push("nothing: the database is already typeorm-security-models'");
    } else {
      plan.action = "blocked";
      plan.blockers.push(
        `the app's tables are in PostgreSQL schema "${names.schema}", and adopt works in the session's current schema ("${outside}") only. ` +
          `To adopt them there, let the DataSource's sessions start in that schema: schema: "${names.schema}" and ` +
          `extra: { options: "-c search_path=${names.schema}" } in its options (inside withNaiveUtc), then run adopt again.`,
      );
    }
    return plan;
  }
  if (backupsPresent.length > 0) {
    // An adoption stopped half-way (MariaDB/MySQL only: elsewhere it is one transaction).
    plan.action = "resume";
    plan.found = `an adoption that stopped half-way (${backupsPresent.join(", ")} still there)`;
    // The rows moved in one transaction, and the old tables are dropped only after it: while the old user,
    // role and link tables are all there, copy again; once one is gone, only the dropping is left.
    const copyAgain = [backups.role, backups.user, backups.links].every((name) => backupsPresent.includes(name));
    const version = copyAgain ? await detectVersion(c, backups.user) : appVersion(ds, names);
    plan.toVersion = version;
    plan.changes.push(
      `finish the adoption: ${copyAgain ? "rebuild the tables and copy the rows again from" : "drop"} ${backupsPresent.join(", ")}`,
    );
    if (copyAgain) plan.from = backups;
  } else {
    const status = await securitySchemaStatus(ds);
    plan.found = status.label;
    if (status.family === "ours") {
      plan.action = "done";
      plan.changes.push("nothing: the database is already typeorm-security-models'");
      return plan;
    }
    if (status.family !== "flask-security" || status.version === null) {
      plan.action = "blocked";
      plan.blockers.push(
        `${status.label} is not a Flask-Security fsqla schema${status.family === "empty" ? ": create the tables with the shipped migrations instead (runMigrations)" : ""}.`,
      );
      return plan;
    }
    plan.toVersion = status.version;
  }
  const version = plan.toVersion;
  if (version > MAX_VERSION) {
    plan.blockers.push(
      `the database is at Flask-Security fsqla v${version}, and this release of typeorm-security-models ships schema versions up to V${MAX_VERSION}: upgrade the package.`,
    );
  }
  const app = appVersion(ds, names);
  if (app < version) {
    plan.blockers.push(
      `the database is at version ${version} and the app's User entity at V${app}: extend UserMixinV${version} (this package's version of fsqla v${version}), or adoption would leave drift.`,
    );
  }
  const referencing = await referencingTables(c, [...tablesOf(names, version), ...tablesOf(backups, version)]);
  if (referencing.length > 0) {
    plan.blockers.push(
      `other tables have foreign keys to the tables adoption rebuilds (${referencing.join("; ")}): drop those foreign keys, adopt, then add them again.`,
    );
  }

  if (plan.action === "adopt" || plan.from.user === backups.user) {
    const from = plan.from;
    const [users, roles] = [
      await count(c, `SELECT COUNT(*) AS n FROM ${c.q(from.user)}`),
      await count(c, `SELECT COUNT(*) AS n FROM ${c.q(from.role)}`),
    ];
    const links = await linkCounts(c, from);
    const userTable = await runner.getTable(from.user);
    const frozen = await frozenSchema(ds, version as SchemaVersion, names);
    const extra = extraColumns(userTable, frozen.user).map((col) => `${names.user}.${col.name}`);
    plan.changes.push(
      `rebuild ${tablesOf(names, version).join(", ")} as typeorm-security-models V${version} declares them (unique indexes for Flask-Security's unique constraints; ` +
        `${names.links} keyed by (user_id, role_id) with ON DELETE CASCADE foreign keys${c.dialect === "mysql" ? "; datetime(6) for DATETIME, so microseconds are kept from now on" : ""}): ` +
        `${users} user(s), ${roles} role(s) and ${links.kept} link(s) keep their ids and values`,
    );
    if (extra.length > 0) plan.changes.push(`keep the app's own columns as they are: ${extra.join(", ")}`);
    if (links.duplicates > 0)
      plan.changes.push(`${names.links}: drop ${links.duplicates} repeated link(s); each user keeps each of its roles once`);
    if (links.empty > 0)
      plan.changes.push(`${names.links}: drop ${links.empty} link(s) with a NULL user_id or role_id (they link nothing)`);
    if (links.dangling > 0)
      plan.changes.push(
        `${names.links}: drop ${links.dangling} link(s) to a user or role that does not exist (SQLite does not check foreign keys for Flask-Security)`,
      );
    const uneven = await unevenPermissionLists(c, from.role);
    if (uneven.length > 0) {
      plan.changes.push(
        `${names.role}.permissions: rewrite ${uneven.length} list(s) as Flask-Security writes them (no spaces, no empty items), so both sides grant the same: ${uneven.map((r) => r.name).join(", ")}`,
      );
    }
    if (version >= 2 && !userTable?.findColumnByName("fs_token_uniquifier")) {
      plan.changes.push(`${names.user}.fs_token_uniquifier: add it, with a distinct random 64-hex token for each of the ${users} user(s)`);
    }
    if (version >= 3) {
      const orphans = await count(
        c,
        `SELECT COUNT(*) AS n FROM ${c.q(from.webauthn)} WHERE user_id NOT IN (SELECT id FROM ${c.q(from.user)})`,
      );
      if (orphans > 0) plan.changes.push(`${names.webauthn}: drop ${orphans} credential(s) of a user that does not exist`);
      if (c.dialect !== "mysql")
        plan.changes.push(
          `${names.user}.email: add the unique index on it in any letter case that V3 has (${EMAIL_CASE_INSENSITIVE_INDEX})`,
        );
      const variants =
        c.dialect === "mysql"
          ? 0
          : await count(
              c,
              `SELECT COUNT(*) AS n FROM (SELECT lower(email) AS e FROM ${c.q(from.user)} GROUP BY lower(email) HAVING COUNT(*) > 1) AS t`,
            );
      if (variants > 0) {
        plan.blockers.push(
          `${variants} email(s) are held by more than one user in different letter case, which V3 refuses (Flask-Security finds users by email in any case): ` +
            `merge or change those users in Flask-Security first (SELECT id, email FROM ${names.user} WHERE lower(email) IN (SELECT lower(email) FROM ${names.user} GROUP BY lower(email) HAVING COUNT(*) > 1)).`,
        );
      }
    }
  }
  plan.recordMigrations = securityMigrations.slice(0, version).map((m) => new m().name);
  plan.changes.push(`record as applied in "${migrationsTable}": ${plan.recordMigrations.join(", ")}`);
  const registered = ds.migrations.map((m) => m.name ?? m.constructor.name);
  const pending = securityMigrations
    .slice(version)
    .map((m) => new m().name)
    .filter((name) => registered.includes(name));
  if (pending.length > 0) {
    plan.afterwards.push(`run the migrations (${pending.join(", ")}) when Flask-Security moves to the matching fsqla version too`);
  }
  if (version >= 2)
    plan.afterwards.push(
      `Flask-Security's User model needs this line, as typeorm-security-models V2+ has the column: ${FLASK_SECURITY_TOKEN_UNIQUIFIER_LINE}`,
    );
  if (plan.blockers.length > 0) plan.action = "blocked";
  return plan;
}

async function detectVersion(c: Context, userTable: string): Promise<number> {
  const table = await c.runner.getTable(userTable);
  const has = (name: string) => !!table?.findColumnByName(name);
  return has("fs_webauthn_user_handle") && has("mf_recovery_codes") ? 3 : has("us_totp_secrets") ? 2 : 1;
}

/** Columns of the live table that the version's frozen entity does not have: the app's own. */
function extraColumns(table: Table | undefined, metadata: EntityMetadata): TableColumn[] {
  return (table?.columns ?? []).filter((col) => !metadata.findColumnWithDatabaseName(col.name));
}

/**
 * What adopting this database would change, without changing anything: the version found, every change
 * (rows dropped, values rewritten, columns added), what blocks it, the migrations it records.
 */
export async function planFlaskSecurityAdoption(dataSource: DataSource): Promise<AdoptionPlan> {
  const runner = dataSource.createQueryRunner();
  try {
    const { from: _from, backupsPresent: _present, ...plan } = await makePlan(context(dataSource, runner));
    return plan;
  } finally {
    await runner.release();
  }
}

/**
 * Adopts a database Flask-Security made: does what `planFlaskSecurityAdoption` lists and returns that plan.
 * Throws `AdoptionBlockedError`, changing nothing, when the plan has blockers (and `NaiveUtcRequiredError`
 * for a DataSource whose options did not go through `withNaiveUtc`). Running it again on an
 * adopted database does nothing; on MariaDB/MySQL it finishes an adoption a crash interrupted.
 */
export async function adoptFlaskSecurityDatabase(dataSource: DataSource): Promise<AdoptionPlan> {
  const runner = dataSource.createQueryRunner();
  try {
    const c = context(dataSource, runner);
    const { from, backupsPresent, ...plan } = await makePlan(c);
    if (plan.blockers.length > 0) throw new AdoptionBlockedError(plan.blockers);
    if (plan.action === "done") return plan;
    const version = plan.toVersion!;
    const frozen = await frozenSchema(dataSource, version as SchemaVersion, c.names);
    const backups = backupNames(c.names);
    const steps = async () => {
      if (backupsPresent.length === 0) await moveAside(c, version);
      if (backupsPresent.length === 0 || from.user === backups.user) {
        await createTables(c, frozen, backups);
        await transaction(c, c.dialect === "mysql", () => copyRows(c, frozen, backups, plan.recordMigrations));
      }
      for (const name of tablesOf(backups, MAX_VERSION).reverse())
        if (await runner.hasTable(name)) await runner.query(`DROP TABLE ${c.q(name)}`);
    };
    if (c.dialect === "sqlite") await runner.query(`PRAGMA foreign_keys = OFF`); // no-op inside a transaction
    try {
      await transaction(c, c.dialect !== "mysql", steps);
    } finally {
      if (c.dialect === "sqlite") await runner.query(`PRAGMA foreign_keys = ON`);
    }
    return plan;
  } finally {
    await runner.release();
  }
}

async function transaction(c: Context, wanted: boolean, work: () => Promise<void>): Promise<void> {
  if (!wanted) return work();
  await c.runner.startTransaction();
  try {
    await work();
    await c.runner.commitTransaction();
  } catch (error) {
    await c.runner.rollbackTransaction();
    throw error;
  }
}

/** Renames Flask-Security's tables to `tsm_adopt_<name>` (MariaDB/MySQL: in one atomic RENAME TABLE). */
async function moveAside(c: Context, version: number): Promise<void> {
  const { runner, q } = c;
  const pairs = tablesOf(c.names, version).map((name) => [name, BACKUP_PREFIX + name]);
  if (c.dialect === "mysql") {
    await runner.query(`RENAME TABLE ${pairs.map(([a, b]) => `${q(a)} TO ${q(b)}`).join(", ")}`);
    return;
  }
  if (c.dialect === "sqlite") await runner.query(`PRAGMA legacy_alter_table = ON`); // keep references as written
  for (const [name, backup] of pairs) {
    if (c.dialect === "postgres" && name !== c.names.links) {
      // The new table's SERIAL wants the sequence name the old one holds.
      const [{ seq }] = await runner.query(`SELECT pg_get_serial_sequence($1, 'id') AS seq`, [q(name)]);
      if (seq) await runner.query(`ALTER SEQUENCE ${seq} RENAME TO ${q(BACKUP_PREFIX + String(seq).split(".").pop()!.replace(/"/g, ""))}`);
    }
    await runner.query(`ALTER TABLE ${q(name)} RENAME TO ${q(backup)}`);
  }
  if (c.dialect === "sqlite") await runner.query(`PRAGMA legacy_alter_table = OFF`);
}

/** Creates each missing table as the shipped migrations do, plus the app's extra columns as they were. */
/** Each table of the version with the name of its old (moved aside) table, parents first. */
function withBackups(frozen: FrozenSchema, backups: SecurityTableNames): Array<[EntityMetadata, string]> {
  const pairs: Array<[EntityMetadata, string]> = [
    [frozen.role, backups.role],
    [frozen.user, backups.user],
  ];
  if (frozen.webauthn) pairs.push([frozen.webauthn, backups.webauthn]);
  return [...pairs, [frozen.links, backups.links]];
}

async function createTables(c: Context, frozen: FrozenSchema, backups: SecurityTableNames): Promise<void> {
  const { runner, ds } = c;
  const pairs = withBackups(frozen, backups);
  for (const [metadata, backup] of pairs) {
    if (await runner.hasTable(metadata.tablePath)) continue;
    const table = Table.create(metadata, ds.driver);
    for (const column of extraColumns(await runner.getTable(backup), metadata)) table.addColumn(column.clone());
    for (const foreignKey of metadata.foreignKeys) table.foreignKeys.push(TableForeignKey.create(foreignKey, ds.driver));
    await runner.createTable(table, false, true, true);
  }
}

/** Moves the rows into the new tables (again, on a resume), fixes what our schema refuses, records the migrations. */
async function copyRows(c: Context, frozen: FrozenSchema, backups: SecurityTableNames, migrations: string[]): Promise<void> {
  const { runner, q, names } = c;
  const pairs = withBackups(frozen, backups);
  for (const [metadata] of [...pairs].reverse()) await runner.query(`DELETE FROM ${q(metadata.tableName)}`);
  for (const [metadata, backup] of pairs.filter(([m]) => m !== frozen.links)) {
    const old = (await runner.getTable(backup))!;
    const target = (await runner.getTable(metadata.tablePath))!;
    const columns = target.columns.filter((col) => old.findColumnByName(col.name) || col.name === "fs_token_uniquifier");
    const values = await Promise.all(
      columns.map(async (col) => (old.findColumnByName(col.name) ? q(col.name) : randomTokenSql(runner, c.dialect))),
    );
    const owned = metadata === frozen.webauthn ? ` WHERE user_id IN (SELECT id FROM ${q(names.user)})` : "";
    await runner.query(
      `INSERT INTO ${q(metadata.tableName)} (${columns.map((col) => q(col.name)).join(", ")}) SELECT ${values.join(", ")} FROM ${q(backup)}${owned}`,
    );
  }
  await runner.query(
    `INSERT INTO ${q(names.links)} (user_id, role_id) SELECT DISTINCT user_id, role_id FROM ${q(backups.links)} ` +
      `WHERE user_id IN (SELECT id FROM ${q(names.user)}) AND role_id IN (SELECT id FROM ${q(names.role)})`,
  );
  for (const role of await unevenPermissionLists(c, names.role)) {
    await runner.query(`UPDATE ${q(names.role)} SET permissions = ${c.dialect === "postgres" ? "$1" : "?"} WHERE id = ${role.id}`, [
      role.normal,
    ]);
  }
  if (frozen.webauthn) {
    await addCaseInsensitiveUnique(
      runner,
      frozen.user,
      "email",
      EMAIL_CASE_INSENSITIVE_INDEX,
      "schema version 3 makes email unique in any letter case",
    );
  }
  if (c.dialect === "postgres") {
    for (const name of pairs.filter(([m]) => m !== frozen.links).map(([m]) => m.tableName)) {
      await runner.query(`SELECT setval(pg_get_serial_sequence($1, 'id'), COALESCE((SELECT MAX(id) FROM ${q(name)}), 0) + 1, false)`, [
        q(name),
      ]);
    }
  }
  await recordMigrations(c, migrations);
}

/** Records the shipped migrations up to the adopted version as applied, in TypeORM's own migrations table. */
async function recordMigrations(c: Context, names: string[]): Promise<void> {
  const { MigrationExecutor } = require("typeorm/migration/MigrationExecutor");
  const { Migration } = require("typeorm/migration/Migration");
  const executor = new MigrationExecutor(c.ds, c.runner);
  await executor.createMigrationsTableIfNotExist(c.runner);
  const executed: Array<{ name: string }> = await executor.loadExecutedMigrations(c.runner);
  for (const name of names) {
    if (executed.some((m) => m.name === name)) continue;
    await executor.insertExecutedMigration(c.runner, new Migration(undefined, Number(name.slice(-13)), name));
  }
}
