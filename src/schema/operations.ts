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
import { dialectOf } from "../database/dialect";
import type { Dialect } from "../database/dialect";
import { quotedInSchema, quotedTable } from "../database/quoting";
import { MigrationBlockedError } from "../errors";

const escape = (connection: DataSource, name: string) => connection.driver.escape(name);

/** The name of an index to create on `metadata`'s table: PostgreSQL puts it in the table's schema itself. */
export function newIndexName(connection: DataSource, metadata: EntityMetadata, name: string): string {
  return dialectOf(connection) === "postgres" ? escape(connection, name) : quotedInSchema(connection, metadata, name);
}

/** `"name" type NULL|NOT NULL` for an ADD COLUMN, with the exact type TypeORM derives for the column. */
export function columnDefinition(connection: DataSource, column: ColumnMetadata): string {
  const tableColumn = new TableColumn(TableUtils.createTableColumnOptions(column, connection.driver));
  const type = connection.driver.createFullType(tableColumn);
  return `${escape(connection, column.databaseName)} ${type} ${column.isNullable ? "NULL" : "NOT NULL"}`;
}

/** Whether a live table has the columns, primary key and index names TypeORM gives `metadata` (never true of a Flask-Security table). */
function madeByThisPackage(table: Table, metadata: EntityMetadata): boolean {
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
  const dialect = dialectOf(queryRunner.connection);
  const resumable = dialect === "mysql";
  const toCreate: EntityMetadata[] = [];
  // A schema named only on the entities (the DataSource's own must exist before TypeORM's runner starts).
  const driverSchema = (queryRunner.connection.options as { schema?: string }).schema;
  const schemas = new Set(metadatas.map((m) => m.schema).filter((schema) => schema && schema !== driverSchema));
  for (const schema of dialect === "postgres" ? schemas : []) {
    const found = await queryRunner.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [schema]);
    if (found.length === 0) {
      throw new MigrationBlockedError(
        metadatas[0].tableName,
        "(table)",
        "schema-missing",
        `the entities put the security tables in PostgreSQL schema "${schema}", and PostgreSQL schema "${schema}" does not exist. ` +
          `Nothing was changed. Create it first: CREATE SCHEMA "${schema}"; then run the migrations again.`,
      );
    }
  }
  for (const metadata of metadatas) {
    const existing = await queryRunner.getTable(metadata.tablePath);
    if (!existing) {
      toCreate.push(metadata);
      continue;
    }
    if (resumable && madeByThisPackage(existing, metadata)) continue;
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
  if (dialectOf(queryRunner.connection) === "mysql" || queryRunner.isTransactionActive) return steps();
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
  const ids = {
    sqlite: `group_concat(${id})`,
    postgres: `string_agg(${id}::text, ',' ORDER BY ${id})`,
    mysql: `GROUP_CONCAT(${id} ORDER BY ${id})`,
  }[dialectOf(connection)];
  const rows: Array<{ value: string; ids: string; n: number | string }> = await queryRunner.query(
    `SELECT MIN(${col}) AS value, ${ids} AS ids, COUNT(*) AS n FROM ${quotedTable(connection, metadata)}
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
export async function randomTokenSql(queryRunner: QueryRunner, dialect: Dialect): Promise<string> {
  if (dialect === "sqlite") return "lower(hex(randomblob(32)))";
  if (dialect === "mysql") {
    const supported = await queryRunner.query(`SELECT LENGTH(RANDOM_BYTES(1)) AS n`).then(
      () => true,
      () => false,
    );
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
  return pgcrypto ? "encode(gen_random_bytes(32), 'hex')" : "encode(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), 'hex')";
}

/** What `addColumns` adds to one table. */
export interface AddColumns {
  table: EntityMetadata;
  /** New columns, as the frozen metadata of the target version declares them. */
  columns: ColumnMetadata[];
  /** The one new column to fill with a distinct random token for every existing row. */
  token?: ColumnMetadata;
  /** Existing NOT NULL columns that become nullable (declared nullable in the target version's metadata). */
  nullable?: ColumnMetadata[];
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
  await allOrNothing(queryRunner, () => addColumnsNow(queryRunner, change, dialectOf(queryRunner.connection)));
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
    `CREATE UNIQUE INDEX ${newIndexName(connection, change.table, index.name)} ON ${table} (${index.columns
      .map((c) => q(c.databaseName))
      .join(", ")})`;
  const relaxed = change.nullable ?? [];
  // SQLite needs a placeholder default to add a NOT NULL column to a table with rows.
  const placeholder = (column: ColumnMetadata) => (column === token && !column.isNullable ? ` DEFAULT ''` : "");
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
      await queryRunner.query(`ALTER TABLE ${table} ADD COLUMN ${columnDefinition(connection, column)}${placeholder(column)}`);
    }
    if (token) {
      await queryRunner.query(`UPDATE ${table} SET ${q(token.databaseName)} = ${random}`);
      if (placeholder(token))
        await rewriteSqliteTable(
          queryRunner,
          change.table,
          `${columnDefinition(connection, token)} DEFAULT ''`,
          columnDefinition(connection, token),
        );
    }
    for (const column of relaxed) await setSqliteNotNull(queryRunner, change.table, column, false);
    for (const index of onNew) await queryRunner.query(createIndex(index));
  } else if (dialect === "postgres") {
    // Indexes after the rewrite: an index built before it would be rebuilt by it.
    const adds = change.columns.map(
      (column) => `ADD COLUMN ${columnDefinition(connection, column)}${column === token ? ` DEFAULT ${random}` : ""}`,
    );
    const drops = relaxed.map((column) => `ALTER COLUMN ${q(column.databaseName)} DROP NOT NULL`);
    await queryRunner.query(`ALTER TABLE ${table} ${[...adds, ...drops].join(", ")}`);
    if (token) await queryRunner.query(`ALTER TABLE ${table} ALTER COLUMN ${q(token.databaseName)} DROP DEFAULT`);
    await guarded(async () => {
      for (const index of onExisting) await queryRunner.query(createIndex(index));
    });
    for (const index of onNew) await queryRunner.query(createIndex(index));
  } else {
    const existing = await queryRunner.getTable(change.table.tablePath);
    const missingColumns = change.columns.filter((c) => !existing?.findColumnByName(c.databaseName));
    const missingIndexes = change.indexes.filter((i) => !existing?.indices.some((e) => e.name === i.name));
    const stillNotNull = relaxed.filter((c) => existing?.findColumnByName(c.databaseName)?.isNullable === false);
    const parts = [
      ...missingColumns.map(
        (column) => `ADD COLUMN ${columnDefinition(connection, column)}${column === token ? ` DEFAULT (${random})` : ""}`,
      ),
      ...stillNotNull.map((column) => `MODIFY COLUMN ${columnDefinition(connection, column)}`),
      ...missingIndexes.map((index) => `ADD UNIQUE INDEX ${q(index.name)} (${index.columns.map((c) => q(c.databaseName)).join(", ")})`),
    ];
    if (parts.length > 0) await guarded(() => queryRunner.query(`ALTER TABLE ${table} ${parts.join(", ")}, ALGORITHM=COPY`));
    if (token) await queryRunner.query(`ALTER TABLE ${table} ALTER COLUMN ${q(token.databaseName)} DROP DEFAULT`);
  }
  // The query runner caches table definitions; raw DDL makes them stale.
  await queryRunner.getTable(change.table.tablePath);
}

/**
 * Replaces `from` by `to` in SQLite's stored CREATE TABLE text of `metadata`'s table, the way SQLite documents
 * for changes that leave the stored rows valid (a column default, a NOT NULL constraint that no row breaks):
 * writable_schema, then a new schema_version. The rows are not touched and the table is not rebuilt.
 * `from` must occur exactly once.
 */
export async function rewriteSqliteTable(
  queryRunner: QueryRunner,
  metadata: EntityMetadata,
  from: string | RegExp,
  to: string,
): Promise<void> {
  const database = (queryRunner.connection.driver as unknown as { databaseConnection?: { unsafeMode?: (on: boolean) => unknown } })
    .databaseConnection;
  if (!database || typeof database.unsafeMode !== "function") {
    throw new MigrationBlockedError(
      metadata.tableName,
      "(table)",
      "sqlite-driver",
      `this migration needs the better-sqlite3 driver on SQLite (type: "better-sqlite3"). Nothing was changed after the transaction rolls back.`,
    );
  }
  const [{ sql }] = await queryRunner.query(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?`, [metadata.tableName]);
  const pattern = typeof from === "string" ? new RegExp(escapeRegExp(from), "g") : new RegExp(from.source, "g");
  const matches = String(sql).match(pattern) ?? [];
  if (matches.length !== 1) {
    throw new MigrationBlockedError(
      metadata.tableName,
      "(table)",
      "sqlite-schema-text",
      `the stored schema of "${metadata.tableName}" is not what this migration expects (${matches.length} places match ${pattern}). Nothing was changed after the transaction rolls back.`,
    );
  }
  const [{ schema_version: version }] = await queryRunner.query(`PRAGMA schema_version`);
  database.unsafeMode(true);
  try {
    await queryRunner.query(`PRAGMA writable_schema = ON`);
    await queryRunner.query(`UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?`, [
      String(sql).replace(pattern, () => to),
      metadata.tableName,
    ]);
    await queryRunner.query(`PRAGMA schema_version = ${Number(version) + 1}`);
    await queryRunner.query(`PRAGMA writable_schema = OFF`);
  } finally {
    database.unsafeMode(false);
  }
}

/**
 * Adds or removes NOT NULL on an existing SQLite column by editing the stored schema (no rebuild). Does
 * nothing when the column is already so. Adding it is only safe when no row holds NULL: callers check first,
 * in the same transaction.
 */
export async function setSqliteNotNull(
  queryRunner: QueryRunner,
  metadata: EntityMetadata,
  column: ColumnMetadata,
  notNull: boolean,
): Promise<void> {
  const nullable = columnDefinition(queryRunner.connection, column).replace(/ (NOT )?NULL$/, "");
  const escaped = escapeRegExp(nullable);
  const [{ sql }] = await queryRunner.query(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?`, [metadata.tableName]);
  const isNotNull = new RegExp(`${escaped} NOT NULL(?= *[,)])`).test(String(sql));
  if (isNotNull === notNull) return;
  if (notNull) await rewriteSqliteTable(queryRunner, metadata, new RegExp(`${escaped}(?= *[,)])`), `${nullable} NOT NULL`);
  else await rewriteSqliteTable(queryRunner, metadata, new RegExp(`${escaped} NOT NULL(?= *[,)])`), nullable);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Makes an existing nullable column NOT NULL again (a `down`), after checking that no row holds NULL there:
 * when some do, throws a MigrationBlockedError listing their ids and changes nothing.
 */
export async function setNotNull(queryRunner: QueryRunner, table: EntityMetadata, column: ColumnMetadata, why: string): Promise<void> {
  const connection = queryRunner.connection;
  const dialect = dialectOf(connection);
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
  const notNull = columnDefinition(connection, column).replace(/ (NOT )?NULL$/, " NOT NULL");
  if (dialect === "sqlite") await setSqliteNotNull(queryRunner, table, column, true);
  else if (dialect === "postgres")
    await queryRunner.query(`ALTER TABLE ${quotedTable(connection, table)} ALTER COLUMN ${q(column.databaseName)} SET NOT NULL`);
  else await queryRunner.query(`ALTER TABLE ${quotedTable(connection, table)} MODIFY COLUMN ${notNull}`);
  await queryRunner.getTable(table.tablePath);
}

/**
 * Makes the database itself refuse two values of `column` that differ only in letter case, and gives
 * case-insensitive lookups an index: a unique index named `indexName` on `lower(column)` on PostgreSQL and on
 * `column COLLATE NOCASE` on SQLite (an expression index would break TypeORM's SQLite table rebuilds, which
 * copy indexes by column name; NOCASE folds ASCII letters, as SQLite's lower() does). MariaDB/MySQL compare
 * with the column's collation, so there the existing unique index already does it when the collation ignores
 * case (`_ci`); a case-sensitive collation stops the migration. Existing case variants stop it too, listed.
 * Does nothing when the index is there.
 */
export async function addCaseInsensitiveUnique(
  queryRunner: QueryRunner,
  table: EntityMetadata,
  column: string,
  indexName: string,
  why: string,
): Promise<void> {
  await refuseCaseDuplicates(queryRunner, table, column, why);
  if (dialectOf(queryRunner.connection) === "mysql") return;
  const connection = queryRunner.connection;
  await queryRunner.query(
    `CREATE UNIQUE INDEX IF NOT EXISTS ${newIndexName(connection, table, indexName)} ON ${quotedTable(connection, table)} (${caseFolded(connection, column)})`,
  );
}

/** `column` folded as the case-insensitive unique index folds it: `lower(column)` (PostgreSQL), `column COLLATE NOCASE` (SQLite). */
export function caseFolded(connection: DataSource, column: string): string {
  const q = (name: string) => escape(connection, name);
  return dialectOf(connection) === "postgres" ? `lower(${q(column)})` : `${q(column)} COLLATE NOCASE`;
}

/**
 * The check of `addCaseInsensitiveUnique` without the change: throws a MigrationBlockedError when rows hold
 * `column` in different letter case (listing their ids), or, on MariaDB/MySQL, when the column's collation
 * is case-sensitive (its unique index could not refuse case variants).
 */
export async function refuseCaseDuplicates(queryRunner: QueryRunner, table: EntityMetadata, column: string, why: string): Promise<void> {
  const connection = queryRunner.connection;
  const dialect = dialectOf(connection);
  const q = (name: string) => escape(connection, name);
  if (dialect === "mysql") {
    const [row] = await queryRunner.query(
      `SELECT COLLATION_NAME AS collation FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND COLUMN_NAME = ?`,
      [table.schema ?? table.database ?? null, table.tableName, column],
    );
    if (!row || !/_ci$/.test(String(row.collation))) {
      throw new MigrationBlockedError(
        table.tableName,
        column,
        "case-sensitive-collation",
        `${why}; MariaDB/MySQL compare ${column} with its collation (${row?.collation ?? "unknown"}), which is case-sensitive, so its unique ` +
          `index cannot refuse case variants. Nothing was changed. Give the column a case-insensitive collation ` +
          `(ALTER TABLE … MODIFY ${column} varchar(255) NOT NULL COLLATE utf8mb4_unicode_ci), then run the migrations again.`,
      );
    }
    return;
  }
  const folded = caseFolded(connection, column);
  const ids = dialect === "postgres" ? `string_agg(${q("id")}::text, ',' ORDER BY ${q("id")})` : `group_concat(${q("id")})`;
  const rows: Array<{ ids: string }> = await queryRunner.query(
    `SELECT ${ids} AS ids FROM ${quotedTable(connection, table)} GROUP BY ${folded} HAVING COUNT(*) > 1 ORDER BY MIN(${q("id")})`,
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
export async function caseInsensitiveUniqueRepair(
  queryRunner: QueryRunner,
  table: string,
  column: string,
  indexName: string,
  schema?: string,
): Promise<string[]> {
  const connection = queryRunner.connection;
  const q = (name: string) => escape(connection, name);
  const dialect = dialectOf(connection);
  if (dialect === "mysql") return [];
  const inSchema = (name: string) => (schema ? `${q(schema)}.${q(name)}` : q(name));
  const create = `CREATE UNIQUE INDEX ${q(indexName)} ON ${inSchema(table)} (${dialect === "postgres" ? `lower(${q(column)})` : `${q(column)} COLLATE NOCASE`})`;
  if (dialect === "postgres") {
    const rows = await queryRunner.query(
      `SELECT indexdef FROM pg_indexes WHERE schemaname = COALESCE($3, current_schema()) AND tablename = $1 AND indexname = $2`,
      [table, indexName, schema ?? null],
    );
    return rows.length === 1 && /lower\(/i.test(rows[0].indexdef)
      ? []
      : [...(rows.length ? [`DROP INDEX ${inSchema(indexName)}`] : []), create];
  }
  const rows = await queryRunner.query(`SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND name = ?`, [
    table,
    indexName,
  ]);
  return rows.length === 1 && /COLLATE NOCASE/i.test(rows[0].sql) ? [] : [...(rows.length ? [`DROP INDEX ${q(indexName)}`] : []), create];
}

/** Drops an index when it exists (MySQL 8 has no DROP INDEX IF EXISTS, so there it looks first). */
export async function dropIndexIfExists(queryRunner: QueryRunner, table: EntityMetadata, indexName: string): Promise<void> {
  const connection = queryRunner.connection;
  if (dialectOf(connection) === "mysql") {
    const existing = await queryRunner.getTable(table.tablePath);
    if (existing?.indices.some((index) => index.name === indexName)) {
      await queryRunner.query(`DROP INDEX ${escape(connection, indexName)} ON ${quotedTable(connection, table)}`);
    }
    return;
  }
  await queryRunner.query(`DROP INDEX IF EXISTS ${quotedInSchema(connection, table, indexName)}`);
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
      if (presentColumns.length > 0)
        await queryRunner.query(`ALTER TABLE ${quoted} ${presentColumns.map((name) => `DROP COLUMN ${q(name)}`).join(", ")}`);
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
