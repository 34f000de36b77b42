/**
 * Applying an adoption plan (`./plan.ts`): each table is moved aside (`tsm_adopt_<name>`), created again
 * exactly as the shipped migrations create it (with the app's extra columns as they were), refilled with the
 * same ids and values, and the old one dropped.
 *
 * A rebuild is the one way that works on all three databases: SQLite cannot drop Flask-Security's inline
 * UNIQUE constraints or change a foreign key in place. On SQLite and PostgreSQL it is one transaction;
 * MariaDB/MySQL commit DDL at once, so there every step checks what is already done and a rerun after a crash
 * finishes the job (the rows move in one transaction and the old tables are dropped only after it).
 */
import { Table, TableForeignKey } from "typeorm";
import type { DataSource, EntityMetadata } from "typeorm";
import { addCaseInsensitiveUnique, frozenSchema } from "../schema";
import type { SecurityTableNames } from "../schema";
import type { FrozenSchema } from "../schema/frozen";
import { randomTokenSql } from "../schema/operations";
import { EMAIL_CASE_INSENSITIVE_INDEX } from "../user/v3";
import { columnsBeyondFlaskSecurity, emailUniqueInAnyCase, emailUniqueInAnyCaseSince, LATEST_VERSION, schemaVersion } from "../versions";
import type { SchemaVersion } from "../versions";
import { adoptionContext, BACKUP_PREFIX, backupNames, extraColumns, tablesOf, unevenPermissionLists } from "./context";
import type { AdoptionContext } from "./context";
import { AdoptionBlockedError, makePlan } from "./plan";
import type { AdoptionPlan } from "./plan";

/**
 * Adopts a database Flask-Security made: does what `planFlaskSecurityAdoption` lists and returns that plan.
 * Throws `AdoptionBlockedError`, changing nothing, when the plan has blockers (and `NaiveUtcRequiredError`
 * for a DataSource whose options did not go through `withNaiveUtc`). Running it again on an
 * adopted database does nothing; on MariaDB/MySQL it finishes an adoption a crash interrupted.
 */
export async function adoptFlaskSecurityDatabase(dataSource: DataSource): Promise<AdoptionPlan> {
  const runner = dataSource.createQueryRunner();
  try {
    const adoption = adoptionContext(dataSource, runner);
    const { from: _from, backupsPresent, rebuild, copy, ...plan } = await makePlan(adoption);
    if (plan.blockers.length > 0) throw new AdoptionBlockedError(plan.blockers);
    if (plan.action === "done") return plan;
    const version = plan.toVersion!;
    const frozen = await frozenSchema(dataSource, version, adoption.names);
    const backups = backupNames(adoption.names);
    const steps = async () => {
      if (backupsPresent.length === 0) await moveAside(adoption, rebuild);
      if (copy && rebuild.length > 0) {
        const pairs = withBackups(frozen, version, backups).filter(([metadata]) => rebuild.includes(metadata.tableName));
        await rebuildTables(adoption, pairs);
        await transaction(adoption, adoption.dialect === "mysql", () => copyRows(adoption, frozen, version, pairs, plan.recordMigrations));
      }
      for (const name of tablesOf(backups, LATEST_VERSION).reverse())
        if (await runner.hasTable(name)) await runner.query(`DROP TABLE ${adoption.quote(name)}`);
    };
    if (adoption.dialect === "sqlite") await runner.query(`PRAGMA foreign_keys = OFF`); // no-op inside a transaction
    try {
      await transaction(adoption, adoption.dialect !== "mysql", steps);
    } finally {
      if (adoption.dialect === "sqlite") await runner.query(`PRAGMA foreign_keys = ON`);
    }
    return plan;
  } finally {
    await runner.release();
  }
}

async function transaction(adoption: AdoptionContext, wanted: boolean, work: () => Promise<void>): Promise<void> {
  if (!wanted) return work();
  await adoption.runner.startTransaction();
  try {
    await work();
    await adoption.runner.commitTransaction();
  } catch (error) {
    await adoption.runner.rollbackTransaction();
    throw error;
  }
}

/** Renames Flask-Security's `tables` to `tsm_adopt_<name>` (MariaDB/MySQL: in one atomic RENAME TABLE). */
async function moveAside(adoption: AdoptionContext, tables: string[]): Promise<void> {
  const { runner, quote } = adoption;
  const pairs = tables.map((name) => [name, BACKUP_PREFIX + name]);
  if (adoption.dialect === "mysql") {
    await runner.query(`RENAME TABLE ${pairs.map(([a, b]) => `${quote(a)} TO ${quote(b)}`).join(", ")}`);
    return;
  }
  if (adoption.dialect === "sqlite") await runner.query(`PRAGMA legacy_alter_table = ON`); // keep references as written
  for (const [name, backup] of pairs) {
    if (adoption.dialect === "postgres" && name !== adoption.names.links) {
      // The new table's SERIAL wants the sequence name the old one holds.
      const [{ seq }] = await runner.query(`SELECT pg_get_serial_sequence($1, 'id') AS seq`, [quote(name)]);
      if (seq)
        await runner.query(`ALTER SEQUENCE ${seq} RENAME TO ${quote(BACKUP_PREFIX + String(seq).split(".").pop()!.replace(/"/g, ""))}`);
    }
    await runner.query(`ALTER TABLE ${quote(name)} RENAME TO ${quote(backup)}`);
  }
  if (adoption.dialect === "sqlite") await runner.query(`PRAGMA legacy_alter_table = OFF`);
}

/** Each table of the version with the name of its old (moved aside) table, parents first. */
function withBackups(frozen: FrozenSchema, version: SchemaVersion, backups: SecurityTableNames): Array<[EntityMetadata, string]> {
  const children = schemaVersion(version).children.map((child): [EntityMetadata, string] => {
    const key = child.key;
    return [frozen[key]!, backups[key]];
  });
  return [[frozen.role, backups.role], [frozen.user, backups.user], ...children, [frozen.links, backups.links]];
}

/** Creates each missing table as the shipped migrations do, plus the app's extra columns as they were. */
async function rebuildTables(adoption: AdoptionContext, pairs: Array<[EntityMetadata, string]>): Promise<void> {
  const { runner, ds } = adoption;
  for (const [metadata, backup] of pairs) {
    if (await runner.hasTable(metadata.tablePath)) continue;
    const table = Table.create(metadata, ds.driver);
    for (const column of extraColumns(await runner.getTable(backup), metadata)) table.addColumn(column.clone());
    for (const foreignKey of metadata.foreignKeys) table.foreignKeys.push(TableForeignKey.create(foreignKey, ds.driver));
    await runner.createTable(table, false, true, true);
  }
}

/**
 * Moves the rows into the rebuilt tables (`pairs`: each with its old table; again, on a resume), fixes what
 * our schema refuses, records the migrations.
 */
async function copyRows(
  adoption: AdoptionContext,
  frozen: FrozenSchema,
  version: SchemaVersion,
  pairs: Array<[EntityMetadata, string]>,
  migrations: string[],
): Promise<void> {
  const { runner, quote, names } = adoption;
  const rebuilt = (metadata: EntityMetadata) => pairs.some(([m]) => m === metadata);
  const children = new Set(schemaVersion(version).children.map((child) => frozen[child.key]));
  const tokens = columnsBeyondFlaskSecurity(version);
  for (const [metadata] of [...pairs].reverse()) await runner.query(`DELETE FROM ${quote(metadata.tableName)}`);
  for (const [metadata, backup] of pairs.filter(([m]) => m !== frozen.links)) {
    const old = (await runner.getTable(backup))!;
    const target = (await runner.getTable(metadata.tablePath))!;
    const columns = target.columns.filter((col) => old.findColumnByName(col.name) || tokens.includes(col.name));
    const values = await Promise.all(
      columns.map(async (col) => (old.findColumnByName(col.name) ? quote(col.name) : randomTokenSql(runner, adoption.dialect))),
    );
    const owned = children.has(metadata) ? ` WHERE user_id IN (SELECT id FROM ${quote(names.user)})` : "";
    await runner.query(
      `INSERT INTO ${quote(metadata.tableName)} (${columns.map((col) => quote(col.name)).join(", ")}) SELECT ${values.join(", ")} FROM ${quote(backup)}${owned}`,
    );
  }
  const links = pairs.find(([m]) => m === frozen.links);
  if (links) {
    await runner.query(
      `INSERT INTO ${quote(names.links)} (user_id, role_id) SELECT DISTINCT user_id, role_id FROM ${quote(links[1])} ` +
        `WHERE user_id IN (SELECT id FROM ${quote(names.user)}) AND role_id IN (SELECT id FROM ${quote(names.role)})`,
    );
  }
  for (const role of rebuilt(frozen.role) ? await unevenPermissionLists(adoption, names.role) : []) {
    await runner.query(
      `UPDATE ${quote(names.role)} SET permissions = ${adoption.dialect === "postgres" ? "$1" : "?"} WHERE id = ${role.id}`,
      [role.normal],
    );
  }
  if (rebuilt(frozen.user) && emailUniqueInAnyCase(version)) {
    await addCaseInsensitiveUnique(
      runner,
      frozen.user,
      "email",
      EMAIL_CASE_INSENSITIVE_INDEX,
      `schema version ${emailUniqueInAnyCaseSince()} makes email unique in any letter case`,
    );
  }
  if (adoption.dialect === "postgres") {
    for (const name of pairs.filter(([m]) => m !== frozen.links).map(([m]) => m.tableName)) {
      await runner.query(`SELECT setval(pg_get_serial_sequence($1, 'id'), COALESCE((SELECT MAX(id) FROM ${quote(name)}), 0) + 1, false)`, [
        quote(name),
      ]);
    }
  }
  await recordMigrations(adoption, migrations);
}

/** Records the shipped migrations up to the adopted version as applied, in TypeORM's own migrations table. */
async function recordMigrations(adoption: AdoptionContext, names: string[]): Promise<void> {
  const { MigrationExecutor } = require("typeorm/migration/MigrationExecutor");
  const { Migration } = require("typeorm/migration/Migration");
  const executor = new MigrationExecutor(adoption.ds, adoption.runner);
  await executor.createMigrationsTableIfNotExist(adoption.runner);
  const executed: Array<{ name: string }> = await executor.loadExecutedMigrations(adoption.runner);
  for (const name of names) {
    if (executed.some((m) => m.name === name)) continue;
    await executor.insertExecutedMigration(adoption.runner, new Migration(undefined, Number(name.slice(-13)), name));
  }
}
