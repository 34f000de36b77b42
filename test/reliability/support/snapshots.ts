/**
 * Databases as snapshots for the fault-injection trials: copy one (PostgreSQL `CREATE DATABASE … TEMPLATE`,
 * a file copy on SQLite, SHOW CREATE TABLE + INSERT … SELECT on MariaDB), drop it, wait until no session of
 * a killed process still works in it, and describe it: a schema fingerprint (tables, columns, indexes, keys,
 * recorded migrations) and checksums of the rows.
 */
import { createHash } from "crypto";
import { copyFileSync, rmSync, writeFileSync } from "fs";
import type { DataSource } from "typeorm";
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
      const [tables] = (await c.query(`SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?`, [
        base,
      ])) as unknown as [Array<{ name: string }>];
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
  if (kind === "sqlite")
    writeFileSync(name, ""); // an empty file is an empty SQLite database
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
      ? withPg(async (c) =>
          Number(
            (await c.query(`SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [name])).rows[0].n,
          ),
        )
      : withMysql(async (c) =>
          Number(
            (
              (await c.query(`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()`, [
                name,
              ])) as unknown as [Array<{ n: number }>]
            )[0][0].n,
          ),
        );
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
    schema = await rows(
      `SELECT type, name, tbl_name, sql FROM sqlite_master WHERE tbl_name NOT IN ('migrations', 'sqlite_sequence') ORDER BY type, name`,
    );
  } else if (kind === "postgres") {
    schema = [
      await rows(
        `SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, column_default FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'migrations' ORDER BY table_name, column_name`,
      ),
      await rows(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'migrations' ORDER BY indexname`),
      await rows(
        `SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'migrations' ORDER BY conname`,
      ),
    ].join("\n");
  } else {
    const tables: Array<{ name: string }> = await ds.query(
      `SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME <> 'migrations' ORDER BY TABLE_NAME`,
    );
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

/** Per table, per column: the number of rows and a sha256 of the column's values in key order. */
export type ColumnChecksums = Record<string, Record<string, string>>;

/** The tables whose rows the trials compare, with the key that orders them: every table of every version. */
const DATA_TABLES: Record<string, string> = {
  user: "id",
  role: "id",
  roles_users: "user_id, role_id",
  web_authn: "id",
  fs_refresh_tracker: "id",
};

/**
 * A checksum of every column of every data table present (one query per table), so a state can be compared
 * on exactly the columns that must be unchanged in it.
 */
export async function columnChecksums(ds: DataSource): Promise<ColumnChecksums> {
  const sums: ColumnChecksums = {};
  const runner = ds.createQueryRunner();
  try {
    for (const [table, key] of Object.entries(DATA_TABLES)) {
      if (!(await runner.hasTable(table))) continue;
      const rows: Array<Record<string, unknown>> = await ds.query(`SELECT * FROM ${ds.driver.escape(table)} ORDER BY ${key}`);
      const columns = rows.length > 0 ? Object.keys(rows[0]) : [];
      sums[table] = Object.fromEntries(
        columns.map((column) => [
          column,
          `${rows.length} rows, sha256 ${createHash("sha256")
            .update(JSON.stringify(rows.map((row) => row[column])))
            .digest("hex")}`,
        ]),
      );
      sums[table]["(rows)"] = String(rows.length);
    }
  } finally {
    await runner.release();
  }
  return sums;
}

/** The checksums of `columns` only (by table), for the tables present in `sums`. */
export function only(sums: ColumnChecksums, columns: Record<string, readonly string[]>): ColumnChecksums {
  return Object.fromEntries(
    Object.entries(sums)
      .filter(([table]) => columns[table])
      .map(([table, byColumn]) => [
        table,
        Object.fromEntries(["(rows)", ...columns[table]].map((column) => [column, byColumn[column] ?? "missing"])),
      ]),
  );
}

/** How many users have no usable token uniquifier (NULL or empty), or null when the column does not exist. */
export async function usersWithoutTokenUniquifier(ds: DataSource): Promise<number | null> {
  const runner = ds.createQueryRunner();
  try {
    if (!(await runner.hasColumn("user", "fs_token_uniquifier"))) return null;
  } finally {
    await runner.release();
  }
  const [row] = await ds.query(
    `SELECT COUNT(*) AS n FROM ${ds.driver.escape("user")} WHERE fs_token_uniquifier IS NULL OR fs_token_uniquifier = ''`,
  );
  return Number(row.n);
}
