/**
 * The schema operations the shipped migrations are made of, each the fastest safe way on each database:
 * set-based backfills, unique indexes built once after the data is in, no SQLite table rebuilds.
 * Column types and index names come from the frozen version metadata (frozen.ts), so results are drift-free.
 */
import { Table, TableColumn, TableForeignKey } from "typeorm";
import type { DataSource, EntityMetadata, QueryRunner } from "typeorm";
import type { ColumnMetadata } from "typeorm/metadata/ColumnMetadata";
import type { IndexMetadata } from "typeorm/metadata/IndexMetadata";
import { TableUtils } from "typeorm/schema-builder/util/TableUtils";
import { SecurityModelError } from "../errors";

/** A migration cannot run on this database, or the data in it forbids the change; nothing was changed. */
export class MigrationBlockedError extends SecurityModelError {}

export type Dialect = "sqlite" | "postgres" | "mysql";

/** The SQL family of the connection's driver; the migrations support SQLite, PostgreSQL, MariaDB and MySQL. */
export function dialectOf(connection: DataSource): Dialect {
  switch (connection.options.type as string) {
    case "better-sqlite3":
    case "sqlite":
      return "sqlite";
    case "postgres":
      return "postgres";
    case "mysql":
    case "mariadb":
      return "mysql";
    default:
      throw new MigrationBlockedError(
        "DataSource",
        "type",
        "unsupported-database",
        `the security migrations support better-sqlite3, postgres, mysql and mariadb, not "${connection.options.type}"`,
      );
  }
}

const escape = (connection: DataSource, name: string) => connection.driver.escape(name);

/** `name` (a table or index) quoted, with the schema of `metadata`'s table when it has one. */
function quotedInSchema(connection: DataSource, metadata: EntityMetadata, name: string): string {
  return [metadata.schema, name].filter(Boolean).map((part) => escape(connection, part!)).join(".");
}

/** The table of `metadata`, quoted, with its schema when it has one. */
export function quotedTable(connection: DataSource, metadata: EntityMetadata): string {
  return quotedInSchema(connection, metadata, metadata.tableName);
}

/** `"name" type NULL|NOT NULL` for an ADD COLUMN, with the exact type TypeORM derives for the column. */
function columnDefinition(connection: DataSource, column: ColumnMetadata): string {
  const tableColumn = new TableColumn(TableUtils.createTableColumnOptions(column, connection.driver));
  const type = connection.driver.createFullType(tableColumn);
  return `${escape(connection, column.databaseName)} ${type} ${column.isNullable ? "NULL" : "NOT NULL"}`;
}

/** Creates the tables of `metadatas` as TypeORM would for those entities, foreign keys included. */
export async function createTables(queryRunner: QueryRunner, metadatas: EntityMetadata[]): Promise<void> {
  const { driver } = queryRunner.connection;
  for (const metadata of metadatas) {
    if (await queryRunner.hasTable(metadata.tablePath)) {
      throw new MigrationBlockedError(
        metadata.tableName,
        "(table)",
        "table-exists",
        `table "${metadata.tablePath}" already exists, so this database is not empty. Nothing was changed. ` +
          `If it was made by Flask-Security or synchronize, adopt it instead of creating it (see the README).`,
      );
    }
  }
  for (const metadata of metadatas) {
    const table = Table.create(metadata, driver);
    for (const foreignKey of metadata.foreignKeys) table.foreignKeys.push(TableForeignKey.create(foreignKey, driver));
    // Foreign keys inline: on SQLite a separate ADD FOREIGN KEY would rebuild the table.
    await queryRunner.createTable(table, false, true, true);
  }
}

/**
 * Throws a MigrationBlockedError listing the rows when some non-null value of `column` is held by more than
 * one row, as the database itself compares them (its collation, so MariaDB's case-insensitive default too).
 * Returns quietly when there are none.
 */
export async function explainDuplicates(queryRunner: QueryRunner, metadata: EntityMetadata, column: string, why: string): Promise<void> {
  const connection = queryRunner.connection;
  const col = escape(connection, column);
  const id = escape(connection, "id");
  const ids = { sqlite: `group_concat(${id})`, postgres: `string_agg(${id}::text, ',' ORDER BY ${id})`, mysql: `GROUP_CONCAT(${id} ORDER BY ${id})` }[dialectOf(connection)];
  const rows: Array<{ value: string; ids: string; n: number | string }> = await queryRunner.query(
    `SELECT MIN(${col}) AS value, ${ids} AS ids, COUNT(*) AS n FROM ${quotedTable(connection, metadata)}
      WHERE ${col} IS NOT NULL GROUP BY ${col} HAVING COUNT(*) > 1 ORDER BY MIN(${id})`,
  );
  if (rows.length === 0) return;
  const shown = rows.slice(0, 20).map((r) => `${JSON.stringify(r.value)} (ids ${String(r.ids).split(",").join(", ")})`);
  const more = rows.length > shown.length ? `, and ${rows.length - shown.length} more` : "";
  throw new MigrationBlockedError(
    metadata.tableName,
    column,
    "duplicate-values",
    `${why}, and ${rows.length} value(s) are held by more than one row: ${shown.join("; ")}${more}. ` +
      `Nothing was changed. Give each of these rows a distinct ${column} (or NULL), then run the migrations again.`,
  );
}

/** The database's cryptographic random source as a 64-hex-character SQL expression. */
export async function randomTokenSql(queryRunner: QueryRunner, dialect: Dialect): Promise<string> {
  if (dialect === "sqlite") return "lower(hex(randomblob(32)))";
  if (dialect === "mysql") {
    const supported = await queryRunner.query(`SELECT LENGTH(RANDOM_BYTES(1)) AS n`).then(() => true, () => false);
    if (!supported) {
      throw new MigrationBlockedError(
        "DataSource",
        "type",
        "no-random-bytes",
        "this MariaDB/MySQL server has no RANDOM_BYTES(), the cryptographic source the token backfill uses. " +
          "Nothing was changed. Use MariaDB 10.10+ or MySQL 8 (or 5.7).",
      );
    }
    return "LOWER(HEX(RANDOM_BYTES(32)))";
  }
  const [{ pgcrypto }] = await queryRunner.query(`SELECT to_regprocedure('gen_random_bytes(integer)') IS NOT NULL AS pgcrypto`);
  // pgcrypto when the database has it (1.4 s per million tokens here); otherwise core gen_random_uuid()
  // (PostgreSQL 13+, 2.3 s per million), also from the operating system's random source: two of them give
  // 244 random bits in 64 hex characters.
  return pgcrypto
    ? "encode(gen_random_bytes(32), 'hex')"
    : "encode(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), 'hex')";
}

/** What `addColumns` adds to one table. */
export interface AddColumns {
  table: EntityMetadata;
  /** New columns, as the frozen metadata of the target version declares them. */
  columns: ColumnMetadata[];
  /** The one new NOT NULL column to fill with a distinct random token for every existing row. */
  token?: ColumnMetadata;
  /** Unique indexes to build, on new or existing columns, after the data is in. */
  indexes: IndexMetadata[];
  /** Why the version makes existing columns unique, for the message when existing rows break that. */
  uniqueBecause: string;
}

/**
 * Adds columns and unique indexes to a live table, filling `token` for every row in one set-based statement.
 * All or nothing: on SQLite and PostgreSQL inside a transaction (the runner's, or its own), on MariaDB/MySQL
 * in one ALTER. When existing rows break a new unique index, the database's own index build is the check (no
 * extra pass over the table); only then are the duplicates looked up, listed, and nothing is changed.
 * - SQLite: ADD COLUMN in place (the token column with a placeholder DEFAULT ''), one UPDATE, the indexes,
 *   and the placeholder default removed from the stored schema as SQLite documents for default changes.
 *   No rebuild, so no cascade can touch the join table.
 * - PostgreSQL: one ALTER whose volatile default fills the token during the single table rewrite, DROP
 *   DEFAULT, then the indexes.
 * - MariaDB/MySQL: one ALTER … ALGORITHM=COPY with the columns, the token default and the indexes (one copy,
 *   no UPDATE, so ON UPDATE CURRENT_TIMESTAMP cannot move `update_datetime`), then DROP DEFAULT. Skipped
 *   when already done: MariaDB commits DDL at once, and a rerun after a crash must be able to finish.
 */
export async function addColumns(queryRunner: QueryRunner, change: AddColumns): Promise<void> {
  const dialect = dialectOf(queryRunner.connection);
  if (dialect === "mysql" || queryRunner.isTransactionActive) return addColumnsNow(queryRunner, change, dialect);
  await queryRunner.startTransaction();
  try {
    await addColumnsNow(queryRunner, change, dialect);
    await queryRunner.commitTransaction();
  } catch (error) {
    await queryRunner.rollbackTransaction();
    throw error;
  }
}

async function addColumnsNow(queryRunner: QueryRunner, change: AddColumns, dialect: Dialect): Promise<void> {
  const connection = queryRunner.connection;
  const table = quotedTable(connection, change.table);
  const q = (name: string) => escape(connection, name);
  const token = change.token;
  const random = token ? await randomTokenSql(queryRunner, dialect) : "";
  const isNew = (index: IndexMetadata) => index.columns.some((c) => change.columns.includes(c));
  const onExisting = change.indexes.filter((index) => !isNew(index));
  const onNew = change.indexes.filter(isNew);
  const createIndex = (index: IndexMetadata) =>
    `CREATE UNIQUE INDEX ${quotedInSchema(connection, change.table, index.name)} ON ${table} (${index.columns
      .map((c) => q(c.databaseName))
      .join(", ")})`;
  /** Runs `step`; when it fails because existing rows break a unique index, says which rows instead. */
  const guarded = async (step: () => Promise<void>) => {
    if (dialect === "postgres") await queryRunner.query(`SAVEPOINT tsm_unique_check`);
    try {
      await step();
      if (dialect === "postgres") await queryRunner.query(`RELEASE SAVEPOINT tsm_unique_check`);
    } catch (error) {
      if (dialect === "postgres") await queryRunner.query(`ROLLBACK TO SAVEPOINT tsm_unique_check`);
      for (const index of onExisting) {
        for (const column of index.columns) await explainDuplicates(queryRunner, change.table, column.databaseName, change.uniqueBecause);
      }
      throw error;
    }
  };

  if (dialect === "sqlite") {
    await guarded(async () => {
      for (const index of onExisting) await queryRunner.query(createIndex(index));
    });
    for (const column of change.columns) {
      const placeholder = column === token ? ` DEFAULT ''` : "";
      await queryRunner.query(`ALTER TABLE ${table} ADD COLUMN ${columnDefinition(connection, column)}${placeholder}`);
    }
    if (token) {
      await queryRunner.query(`UPDATE ${table} SET ${q(token.databaseName)} = ${random}`);
      await removeSqliteDefault(queryRunner, change.table, `${columnDefinition(connection, token)} DEFAULT ''`);
    }
    for (const index of onNew) await queryRunner.query(createIndex(index));
  } else if (dialect === "postgres") {
    // Indexes after the rewrite: an index built before it would be rebuilt by it.
    const adds = change.columns.map((column) => `ADD COLUMN ${columnDefinition(connection, column)}${column === token ? ` DEFAULT ${random}` : ""}`);
    await queryRunner.query(`ALTER TABLE ${table} ${adds.join(", ")}`);
    if (token) await queryRunner.query(`ALTER TABLE ${table} ALTER COLUMN ${q(token.databaseName)} DROP DEFAULT`);
    await guarded(async () => {
      for (const index of onExisting) await queryRunner.query(createIndex(index));
    });
    for (const index of onNew) await queryRunner.query(createIndex(index));
  } else {
    const existing = await queryRunner.getTable(change.table.tablePath);
    const missingColumns = change.columns.filter((c) => !existing?.findColumnByName(c.databaseName));
    const missingIndexes = change.indexes.filter((i) => !existing?.indices.some((e) => e.name === i.name));
    const parts = [
      ...missingColumns.map((column) => `ADD COLUMN ${columnDefinition(connection, column)}${column === token ? ` DEFAULT (${random})` : ""}`),
      ...missingIndexes.map((index) => `ADD UNIQUE INDEX ${q(index.name)} (${index.columns.map((c) => q(c.databaseName)).join(", ")})`),
    ];
    if (parts.length > 0) await guarded(() => queryRunner.query(`ALTER TABLE ${table} ${parts.join(", ")}, ALGORITHM=COPY`));
    if (token) await queryRunner.query(`ALTER TABLE ${table} ALTER COLUMN ${q(token.databaseName)} DROP DEFAULT`);
  }
  // The query runner caches table definitions; raw DDL makes them stale.
  await queryRunner.getTable(change.table.tablePath);
}

/**
 * Removes a column's placeholder DEFAULT from SQLite's stored CREATE TABLE text, the way SQLite documents for
 * changing a column default (writable_schema, then a new schema_version): the rows are not touched.
 */
async function removeSqliteDefault(queryRunner: QueryRunner, metadata: EntityMetadata, definitionWithDefault: string): Promise<void> {
  const database = (queryRunner.connection.driver as unknown as { databaseConnection?: { unsafeMode?: (on: boolean) => unknown } }).databaseConnection;
  if (!database || typeof database.unsafeMode !== "function") {
    throw new MigrationBlockedError(
      metadata.tableName,
      "(table)",
      "sqlite-driver",
      `this migration needs the better-sqlite3 driver on SQLite (type: "better-sqlite3"). Nothing was changed after the transaction rolls back.`,
    );
  }
  const [{ sql }] = await queryRunner.query(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?`, [metadata.tableName]);
  const parts = String(sql).split(definitionWithDefault);
  if (parts.length !== 2) {
    throw new MigrationBlockedError(metadata.tableName, "(table)", "sqlite-schema-text", `the stored schema of "${metadata.tableName}" is not what this migration just wrote`);
  }
  const [{ schema_version: version }] = await queryRunner.query(`PRAGMA schema_version`);
  database.unsafeMode(true);
  try {
    await queryRunner.query(`PRAGMA writable_schema = ON`);
    await queryRunner.query(`UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?`, [
      parts.join(definitionWithDefault.slice(0, -" DEFAULT ''".length)),
      metadata.tableName,
    ]);
    await queryRunner.query(`PRAGMA schema_version = ${Number(version) + 1}`);
    await queryRunner.query(`PRAGMA writable_schema = OFF`);
  } finally {
    database.unsafeMode(false);
  }
}

/** Drops unique indexes and then columns from a live table (SQLite 3.35+ drops columns in place). */
export async function dropColumns(queryRunner: QueryRunner, table: EntityMetadata, columns: string[], indexes: string[]): Promise<void> {
  const connection = queryRunner.connection;
  const dialect = dialectOf(connection);
  const q = (name: string) => escape(connection, name);
  const quoted = quotedTable(connection, table);
  const existing = await queryRunner.getTable(table.tablePath);
  const presentIndexes = indexes.filter((name) => existing?.indices.some((i) => i.name === name));
  const presentColumns = columns.filter((name) => existing?.findColumnByName(name));
  if (dialect === "mysql") {
    const parts = [...presentIndexes.map((name) => `DROP INDEX ${q(name)}`), ...presentColumns.map((name) => `DROP COLUMN ${q(name)}`)];
    if (parts.length > 0) await queryRunner.query(`ALTER TABLE ${quoted} ${parts.join(", ")}`);
  } else {
    for (const name of presentIndexes) await queryRunner.query(`DROP INDEX ${quotedInSchema(connection, table, name)}`);
    if (dialect === "postgres") {
      if (presentColumns.length > 0) await queryRunner.query(`ALTER TABLE ${quoted} ${presentColumns.map((name) => `DROP COLUMN ${q(name)}`).join(", ")}`);
    } else {
      for (const name of presentColumns) await queryRunner.query(`ALTER TABLE ${quoted} DROP COLUMN ${q(name)}`);
    }
  }
  await queryRunner.getTable(table.tablePath);
}

/** Drops tables, the referencing ones first. */
export async function dropTables(queryRunner: QueryRunner, metadatas: EntityMetadata[]): Promise<void> {
  for (const metadata of metadatas) await queryRunner.dropTable(metadata.tablePath, true, true, true);
}
