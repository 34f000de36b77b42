/**
 * The schema operations the shipped migrations are made of, each the fastest safe way on each database:
 * set-based backfills, unique indexes built once after the data is in, no SQLite table rebuilds.
 * Column types and index names come from the frozen version metadata (frozen.ts), so results are drift-free.
 * This file is the order of the steps and the refusals, the same on every database; what each database does
 * differently is in `dialects/` (one file per SQL family).
 */
import { Table, TableForeignKey } from "typeorm";
import type { DataSource, EntityMetadata, QueryRunner } from "typeorm";
import type { ColumnMetadata } from "typeorm/metadata/ColumnMetadata";
import type { IndexMetadata } from "typeorm/metadata/IndexMetadata";
import type { Dialect } from "../database/dialect";
import { quotedTable } from "../database/quoting";
import { MigrationBlockedError } from "../errors";
import { SCHEMA_DIALECTS, schemaDialectOf } from "./dialects";
import type { AddColumns } from "./dialects";

export type { AddColumns } from "./dialects";
export { rewriteSqliteTable, setSqliteNotNull } from "./dialects";
export { columnDefinition } from "./column-definition";

const escape = (connection: DataSource, name: string) => connection.driver.escape(name);

/** The name of an index to create on `metadata`'s table: PostgreSQL puts it in the table's schema itself. */
export function newIndexName(connection: DataSource, metadata: EntityMetadata, name: string): string {
  return schemaDialectOf(connection).newIndexName(connection, metadata, name);
}

/** Whether a live table has the columns, primary key and index names TypeORM gives `metadata` (never true of a Flask-Security table). */
export function madeByThisPackage(table: Table, metadata: EntityMetadata): boolean {
  const sorted = (names: string[]) => [...names].sort().join(",");
  return (
    sorted(table.columns.map((c) => c.name)) === sorted(metadata.columns.map((c) => c.databaseName)) &&
    sorted(table.primaryColumns.map((c) => c.name)) === sorted(metadata.primaryColumns.map((c) => c.databaseName)) &&
    metadata.indices.every((index) => table.indices.some((live) => live.name === index.name))
  );
}

/**
 * Creates the tables of `metadatas` as TypeORM would for those entities, foreign keys included. Stops,
 * changing nothing, when one already exists; except that on MariaDB/MySQL, where DDL commits at once, a
 * table with exactly the expected columns is taken as made by an earlier, interrupted run of the same
 * migration and kept, so that running the migrations again completes.
 */
export async function createTables(queryRunner: QueryRunner, metadatas: EntityMetadata[]): Promise<void> {
  await createCheckedTables(queryRunner, await tablesToCreate(queryRunner, metadatas));
}

/**
 * The refusal of `createTables` on its own, for a migration that changes other tables first: it must refuse
 * before its first change, as MariaDB/MySQL commit each DDL statement at once. Returns the tables to create
 * (pass them to `createCheckedTables`); throws a MigrationBlockedError when one exists and is not resumable.
 */
export async function tablesToCreate(queryRunner: QueryRunner, metadatas: EntityMetadata[]): Promise<EntityMetadata[]> {
  const dialect = schemaDialectOf(queryRunner.connection);
  const toCreate: EntityMetadata[] = [];
  await dialect.requireSchemas(queryRunner, metadatas);
  for (const metadata of metadatas) {
    const existing = await queryRunner.getTable(metadata.tablePath);
    if (!existing) {
      toCreate.push(metadata);
      continue;
    }
    if (dialect.commitsDdlAtOnce && madeByThisPackage(existing, metadata)) continue;
    throw new MigrationBlockedError(
      metadata.tableName,
      "(table)",
      "table-exists",
      `table "${metadata.tablePath}" already exists, so this database is not empty. Nothing was changed. ` +
        `If it was made by Flask-Security or synchronize, adopt it instead of creating it (see the README).`,
    );
  }
  return toCreate;
}

/** Creates tables that `tablesToCreate` found missing. */
export async function createCheckedTables(queryRunner: QueryRunner, toCreate: EntityMetadata[]): Promise<void> {
  const { driver } = queryRunner.connection;
  for (const metadata of toCreate) {
    const table = Table.create(metadata, driver);
    for (const foreignKey of metadata.foreignKeys) table.foreignKeys.push(TableForeignKey.create(foreignKey, driver));
    // Foreign keys inline: on SQLite a separate ADD FOREIGN KEY would rebuild the table.
    await queryRunner.createTable(table, false, true, true);
  }
}

/**
 * Runs `steps` all or nothing: in the runner's transaction when there is one (`transaction: "all"` or
 * `"each"`), else, on SQLite and PostgreSQL, in one of its own (`transaction: "none"`), so a refusal half-way
 * leaves no earlier step behind. MariaDB/MySQL commit DDL at once whatever the transaction, so there every
 * refusal must come before the first change instead.
 */
export async function allOrNothing(queryRunner: QueryRunner, steps: () => Promise<void>): Promise<void> {
  if (schemaDialectOf(queryRunner.connection).commitsDdlAtOnce || queryRunner.isTransactionActive) return steps();
  await queryRunner.startTransaction();
  try {
    await steps();
    await queryRunner.commitTransaction();
  } catch (error) {
    await queryRunner.rollbackTransaction();
    throw error;
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
  const rows: Array<{ value: string; ids: string; n: number | string }> = await queryRunner.query(
    `SELECT MIN(${col}) AS value, ${schemaDialectOf(connection).idList(id)} AS ids, COUNT(*) AS n FROM ${quotedTable(connection, metadata)}
      WHERE ${col} IS NOT NULL GROUP BY ${col} HAVING COUNT(*) > 1 ORDER BY MIN(${id})`,
  );
  if (rows.length === 0) return;
  throw new MigrationBlockedError(
    metadata.tableName,
    column,
    "duplicate-values",
    `${why}, and ${rows.length} value(s) are held by more than one row: ${listed(rows, (r) => `${JSON.stringify(r.value)} (ids ${sortedIds(r.ids)})`, "; ")}. ` +
      `Nothing was changed. Give each of these rows a distinct ${column} (or NULL), then run the migrations again.`,
  );
}

/** The first 20 rows of a blocking listing, rendered and joined, and how many more there are. */
function listed<T>(rows: T[], render: (row: T) => string, separator: string): string {
  const more = rows.length > 20 ? `, and ${rows.length - 20} more` : "";
  return rows.slice(0, 20).map(render).join(separator) + more;
}

/** A comma list of ids as aggregated by the database (SQLite's group_concat has no order), sorted. */
function sortedIds(ids: string): string {
  return String(ids)
    .split(",")
    .map(Number)
    .sort((a, b) => a - b)
    .join(", ");
}

/** The database's cryptographic random source as a 64-hex-character SQL expression. */
export function randomTokenSql(queryRunner: QueryRunner, dialect: Dialect): Promise<string> {
  return SCHEMA_DIALECTS[dialect].randomToken(queryRunner);
}

/**
 * Adds columns and unique indexes to a live table, filling `token` for every row in one set-based statement
 * (how, on each database: `dialects/`). All or nothing: on SQLite and PostgreSQL inside a transaction (the
 * runner's, or its own), on MariaDB/MySQL in one ALTER, skipped when already done (MariaDB commits DDL at once,
 * and a rerun after a crash must be able to finish). When existing rows break a new unique index, the
 * database's own index build is the check (no extra pass over the table); only then are the duplicates looked
 * up, listed, and nothing is changed.
 */
export async function addColumns(queryRunner: QueryRunner, change: AddColumns): Promise<void> {
  const dialect = schemaDialectOf(queryRunner.connection);
  await allOrNothing(queryRunner, async () => {
    const connection = queryRunner.connection;
    const table = quotedTable(connection, change.table);
    const random = change.token ? await dialect.randomToken(queryRunner) : "";
    const isNew = (index: IndexMetadata) => index.columns.some((c) => change.columns.includes(c));
    const onExisting = change.indexes.filter((index) => !isNew(index));
    await dialect.addColumns(queryRunner, {
      ...change,
      quoted: table,
      random,
      onExisting,
      onNew: change.indexes.filter(isNew),
      relaxed: change.nullable ?? [],
      createIndex: (index) =>
        `CREATE UNIQUE INDEX ${dialect.newIndexName(connection, change.table, index.name)} ON ${table} (${index.columns
          .map((c) => escape(connection, c.databaseName))
          .join(", ")})`,
      explainingDuplicates: async (step) => {
        try {
          await step();
        } catch (error) {
          for (const index of onExisting) {
            for (const column of index.columns)
              await explainDuplicates(queryRunner, change.table, column.databaseName, change.uniqueBecause);
          }
          throw error;
        }
      },
    });
    // The query runner caches table definitions; raw DDL makes them stale.
    await queryRunner.getTable(change.table.tablePath);
  });
}

/**
 * Makes an existing nullable column NOT NULL again (a `down`), after checking that no row holds NULL there:
 * when some do, throws a MigrationBlockedError listing their ids and changes nothing.
 */
export async function setNotNull(queryRunner: QueryRunner, table: EntityMetadata, column: ColumnMetadata, why: string): Promise<void> {
  const connection = queryRunner.connection;
  const q = (name: string) => escape(connection, name);
  const rows: Array<{ id: number }> = await queryRunner.query(
    `SELECT ${q("id")} AS id FROM ${quotedTable(connection, table)} WHERE ${q(column.databaseName)} IS NULL ORDER BY ${q("id")}`,
  );
  if (rows.length > 0) {
    throw new MigrationBlockedError(
      table.tableName,
      column.databaseName,
      "null-values",
      `${why}, and ${rows.length} row(s) hold NULL there (ids ${listed(rows, (r) => String(r.id), ", ")}). Nothing was changed. ` +
        `Give each of these rows a value (or delete them), then run the migration again.`,
    );
  }
  await schemaDialectOf(connection).setNotNull(queryRunner, table, column);
  await queryRunner.getTable(table.tablePath);
}

/**
 * Makes the database itself refuse two values of `column` that differ only in letter case, and gives
 * case-insensitive lookups an index, by the database's case-insensitive rule (`src/database/dialects`): a
 * unique index named `indexName` on the folded column (PostgreSQL `lower(column)`, SQLite
 * `column COLLATE NOCASE`); on MariaDB/MySQL the existing unique index already does it when the column's
 * collation ignores case (`_ci`), and a case-sensitive collation stops the migration. Existing case variants
 * stop it too, listed. Does nothing when the index is there.
 */
export async function addCaseInsensitiveUnique(
  queryRunner: QueryRunner,
  table: EntityMetadata,
  column: string,
  indexName: string,
  why: string,
): Promise<void> {
  await refuseCaseDuplicates(queryRunner, table, column, why);
  const connection = queryRunner.connection;
  const rule = schemaDialectOf(connection).database.caseInsensitive;
  if (rule.by === "collation") return;
  await queryRunner.query(
    `CREATE UNIQUE INDEX IF NOT EXISTS ${newIndexName(connection, table, indexName)} ON ${quotedTable(connection, table)} (${rule.folded(escape(connection, column))})`,
  );
}

/** `column` folded as the case-insensitive unique index folds it: `lower(column)` (PostgreSQL), `column COLLATE NOCASE` (SQLite). */
export function caseFolded(connection: DataSource, column: string): string {
  const rule = schemaDialectOf(connection).database.caseInsensitive;
  if (rule.by === "collation") throw new Error("MariaDB/MySQL fold letter case by the column's collation, not by an index expression");
  return rule.folded(escape(connection, column));
}

/**
 * The check of `addCaseInsensitiveUnique` without the change: throws a MigrationBlockedError when rows hold
 * `column` in different letter case (listing their ids), or, on MariaDB/MySQL, when the column's collation
 * is case-sensitive (its unique index could not refuse case variants).
 */
export async function refuseCaseDuplicates(queryRunner: QueryRunner, table: EntityMetadata, column: string, why: string): Promise<void> {
  const connection = queryRunner.connection;
  const dialect = schemaDialectOf(connection);
  const rule = dialect.database.caseInsensitive;
  const q = (name: string) => escape(connection, name);
  if (rule.by === "collation") {
    const collation = await rule.collationOf(queryRunner, table, column);
    if (collation === undefined || !rule.ignoresCase(collation)) {
      throw new MigrationBlockedError(
        table.tableName,
        column,
        "case-sensitive-collation",
        `${why}; MariaDB/MySQL compare ${column} with its collation (${collation ?? "unknown"}), which is case-sensitive, so its unique ` +
          `index cannot refuse case variants. Nothing was changed. Give the column a case-insensitive collation ` +
          `(ALTER TABLE … MODIFY ${column} varchar(255) NOT NULL COLLATE utf8mb4_unicode_ci), then run the migrations again.`,
      );
    }
    return;
  }
  const rows: Array<{ ids: string }> = await queryRunner.query(
    `SELECT ${dialect.idList(q("id"))} AS ids FROM ${quotedTable(connection, table)} GROUP BY ${rule.folded(q(column))} HAVING COUNT(*) > 1 ORDER BY MIN(${q("id")})`,
  );
  if (rows.length > 0) {
    throw new MigrationBlockedError(
      table.tableName,
      column,
      "case-duplicates",
      `${why}, and ${rows.length} group(s) of rows hold the same ${column} in different letter case: ${listed(rows, (r) => `ids ${sortedIds(r.ids)}`, "; ")}. ` +
        `Nothing was changed. Merge or change these rows so that each ${column} is distinct ignoring case, then run the migrations again.`,
    );
  }
}

/**
 * The statements that would restore the case-insensitive unique index of `addCaseInsensitiveUnique` on a live
 * table, or `[]` when it is intact. On SQLite, TypeORM's table rebuilds (its `addColumn`, `changeColumn`,
 * generated migrations) recreate indexes by column name and so turn it into a plain, case-sensitive one.
 * `schema`: the table's PostgreSQL schema (default: the session's current one).
 */
export function caseInsensitiveUniqueRepair(
  queryRunner: QueryRunner,
  table: string,
  column: string,
  indexName: string,
  schema?: string,
): Promise<string[]> {
  return schemaDialectOf(queryRunner.connection).caseInsensitiveUniqueRepair(queryRunner, table, column, indexName, schema);
}

/** Drops an index when it exists (MySQL 8 has no DROP INDEX IF EXISTS, so there it looks first). */
export function dropIndexIfExists(queryRunner: QueryRunner, table: EntityMetadata, indexName: string): Promise<void> {
  return schemaDialectOf(queryRunner.connection).dropIndexIfExists(queryRunner, table, indexName);
}

/** Drops unique indexes and then columns from a live table (SQLite 3.35+ drops columns in place). */
export async function dropColumns(queryRunner: QueryRunner, table: EntityMetadata, columns: string[], indexes: string[]): Promise<void> {
  const existing = await queryRunner.getTable(table.tablePath);
  const presentIndexes = indexes.filter((name) => existing?.indices.some((i) => i.name === name));
  const presentColumns = columns.filter((name) => existing?.findColumnByName(name));
  await schemaDialectOf(queryRunner.connection).dropColumns(queryRunner, table, presentColumns, presentIndexes);
  await queryRunner.getTable(table.tablePath);
}

/** Drops tables, the referencing ones first. */
export async function dropTables(queryRunner: QueryRunner, metadatas: EntityMetadata[]): Promise<void> {
  for (const metadata of metadatas) await queryRunner.dropTable(metadata.tablePath, true, true, true);
}
