/**
 * Databases as snapshots for the fault-injection trials: copy one (PostgreSQL `CREATE DATABASE … TEMPLATE`,
 * a file copy on SQLite, SHOW CREATE TABLE + INSERT … SELECT on MariaDB), drop it, wait until no session of
 * a killed process still works in it, and describe it: a schema fingerprint (tables, columns, indexes, keys,
 * recorded migrations) and checksums of the rows.
 */
import { createHash } from "crypto";
import { copyFileSync, rmSync, writeFileSync } from "fs";
import type { DataSource, QueryRunner } from "typeorm";
import { withMysql, withPg } from "../../support/database";
import type { DatabaseKind } from "../../support/servers";

/** Copies the database (or SQLite file) `base` to `copy`, which must not exist. */
export async function cloneDatabase(kind: DatabaseKind, base: string, copy: string): Promise<void> {
  if (kind === "sqlite") {
    copyFileSync(base, copy);
  } else if (kind === "postgres") {
    await withPg((c) => c.query(`CREATE DATABASE ${copy} TEMPLATE ${base}`));
  } else {
    await withMysql(async (c) => {
      await c.query(`CREATE DATABASE ${copy} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
      await c.query(`SET FOREIGN_KEY_CHECKS = 0`);
      const [tables] = (await c.query(`SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?`, [base])) as unknown as [Array<{ name: string }>];
      await c.query(`USE ${copy}`);
      for (const { name } of tables) {
        const [[created]] = (await c.query(`SHOW CREATE TABLE ${base}.\`${name}\``)) as unknown as [Array<Record<string, string>>];
        await c.query(created["Create Table"]); // foreign keys name their table without the database: they point into the copy
        await c.query(`INSERT INTO ${copy}.\`${name}\` SELECT * FROM ${base}.\`${name}\``);
      }
    });
  }
}

/** Creates the empty database (or SQLite file) `name`, the state before the first migration. */
export async function createEmptyDatabase(kind: DatabaseKind, name: string): Promise<void> {
  if (kind === "sqlite") writeFileSync(name, ""); // an empty file is an empty SQLite database
  else if (kind === "postgres") await withPg((c) => c.query(`CREATE DATABASE ${name}`));
  else await withMysql((c) => c.query(`CREATE DATABASE ${name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`));
}

/** Drops a copy made by cloneDatabase. */
export async function dropDatabase(kind: DatabaseKind, name: string): Promise<void> {
  if (kind === "sqlite") {
    for (const suffix of ["", "-journal", "-wal", "-shm"]) rmSync(`${name}${suffix}`, { force: true });
  } else if (kind === "postgres") {
    await withPg((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  } else {
    await withMysql((c) => c.query(`DROP DATABASE IF EXISTS ${name}`));
  }
}

/**
 * Waits until no server session works in `name` any more: a killed client's statement runs on in the server
 * until it ends or notices the closed socket (PostgreSQL then rolls back; a MariaDB ALTER TABLE completes).
 * Returns how long that took, in ms.
 */
export async function waitForOrphans(kind: DatabaseKind, name: string, timeoutMs = 120_000): Promise<number> {
  if (kind === "sqlite") return 0;
  const started = Date.now();
  const busy = () =>
    kind === "postgres"
      ? withPg(async (c) => Number((await c.query(`SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [name])).rows[0].n))
      : withMysql(async (c) => Number(((await c.query(`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()`, [name])) as unknown as [Array<{ n: number }>])[0][0].n));
  while ((await busy()) > 0) {
    if (Date.now() - started > timeoutMs) throw new Error(`a killed migration's session still works in ${name} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return Date.now() - started;
}

/**
 * The schema of the database (every table, column, index, key) and the migrations recorded, as text. TypeORM's
 * own `migrations` table is left out of the schema (the runner creates it before its transaction, so a killed
 * first run leaves it behind, empty); its rows are in.
 */
export async function schemaFingerprint(ds: DataSource, kind: DatabaseKind): Promise<string> {
  const rows = async (sql: string, parameters: unknown[] = []) => JSON.stringify(await ds.query(sql, parameters));
  let schema: string;
  if (kind === "sqlite") {
    schema = await rows(`SELECT type, name, tbl_name, sql FROM sqlite_master WHERE tbl_name NOT IN ('migrations', 'sqlite_sequence') ORDER BY type, name`);
  } else if (kind === "postgres") {
    schema = [
      await rows(`SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, column_default FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'migrations' ORDER BY table_name, column_name`),
      await rows(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'migrations' ORDER BY indexname`),
      await rows(`SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'migrations' ORDER BY conname`),
    ].join("\n");
  } else {
    const tables: Array<{ name: string }> = await ds.query(`SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME <> 'migrations' ORDER BY TABLE_NAME`);
    const created = [];
    for (const { name } of tables) {
      const [row] = await ds.query(`SHOW CREATE TABLE \`${name}\``);
      created.push(String(row["Create Table"]).replace(/ AUTO_INCREMENT=\d+/, ""));
    }
    schema = created.join("\n");
  }
  const migrations = await ds.query(`SELECT name FROM migrations ORDER BY id`).catch(() => []);
  return `${schema}\nmigrations: ${JSON.stringify(migrations)}`;
}

/** Columns whose values must survive a step, by table: those of the older schema version of the step. */
export type KeptColumns = Record<string, readonly string[]>;

/**
 * A checksum (sha256 of every row, in key order) of each table's kept columns, plus the number of rows;
 * `{}` when the tables are gone. Also counts users without a usable token uniquifier where the column exists.
 */
export async function rowChecksums(ds: DataSource, kept: KeptColumns): Promise<Record<string, string>> {
  const sums: Record<string, string> = {};
  const runner = ds.createQueryRunner();
  try {
    for (const [table, columns] of Object.entries(kept)) {
      if (await runner.hasTable(table)) await checksumTable(ds, runner, table, columns, sums);
    }
  } finally {
    await runner.release();
  }
  return sums;
}

async function checksumTable(ds: DataSource, runner: QueryRunner, table: string, columns: readonly string[], sums: Record<string, string>): Promise<void> {
  const quoted = columns.map((c) => ds.driver.escape(c)).join(", ");
  const key = table === "roles_users" ? "user_id, role_id" : "id";
  const data: unknown[] = await ds.query(`SELECT ${quoted} FROM ${ds.driver.escape(table)} ORDER BY ${key}`);
  sums[table] = `${data.length} rows, sha256 ${createHash("sha256").update(JSON.stringify(data)).digest("hex")}`;
  if (table === "user" && (await runner.hasColumn(table, "fs_token_uniquifier"))) {
    const [bad] = await ds.query(`SELECT COUNT(*) AS n FROM ${ds.driver.escape(table)} WHERE fs_token_uniquifier IS NULL OR fs_token_uniquifier = ''`);
    sums.usersWithoutTokenUniquifier = String(bad.n);
  }
}
