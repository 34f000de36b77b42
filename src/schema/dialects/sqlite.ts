/**
 * The shipped migrations on SQLite: columns added in place (SQLite 3.35+ also drops them in place) and
 * constraints changed in the stored schema text, never by a table rebuild, so no cascade can touch the join
 * table.
 */
import type { EntityMetadata, QueryRunner } from "typeorm";
import type { ColumnMetadata } from "typeorm/metadata/ColumnMetadata";
import { sqliteDialect } from "../../database/dialects/sqlite";
import { quotedInSchema, quotedTable } from "../../database/quoting";
import { MigrationBlockedError } from "../../errors";
import { columnDefinition } from "../column-definition";
import type { ColumnAddition, SchemaDialect } from "./dialect";

/** SQLite's side of the shipped migrations. */
export const sqliteSchema: SchemaDialect = {
  database: sqliteDialect,
  commitsDdlAtOnce: false,
  newIndexName: quotedInSchema,
  requireSchemas: () => Promise.resolve(),
  idList: (id) => `group_concat(${id})`,
  randomToken: () => Promise.resolve("lower(hex(randomblob(32)))"),

  /**
   * ADD COLUMN in place (the token column with a placeholder DEFAULT ''), one UPDATE, the indexes, and the
   * placeholder default removed from the stored schema as SQLite documents for default changes.
   */
  async addColumns(queryRunner: QueryRunner, addition: ColumnAddition): Promise<void> {
    const connection = queryRunner.connection;
    const { quoted: table, token } = addition;
    // SQLite needs a placeholder default to add a NOT NULL column to a table with rows.
    const placeholder = (column: ColumnMetadata) => (column === token && !column.isNullable ? ` DEFAULT ''` : "");
    await addition.explainingDuplicates(async () => {
      for (const index of addition.onExisting) await queryRunner.query(addition.createIndex(index));
    });
    for (const column of addition.columns) {
      await queryRunner.query(`ALTER TABLE ${table} ADD COLUMN ${columnDefinition(connection, column)}${placeholder(column)}`);
    }
    if (token) {
      await queryRunner.query(`UPDATE ${table} SET ${connection.driver.escape(token.databaseName)} = ${addition.random}`);
      if (placeholder(token))
        await rewriteSqliteTable(
          queryRunner,
          addition.table,
          `${columnDefinition(connection, token)} DEFAULT ''`,
          columnDefinition(connection, token),
        );
    }
    for (const column of addition.relaxed) await setSqliteNotNull(queryRunner, addition.table, column, false);
    for (const index of addition.onNew) await queryRunner.query(addition.createIndex(index));
  },

  setNotNull: (queryRunner, table, column) => setSqliteNotNull(queryRunner, table, column, true),

  async caseInsensitiveUniqueRepair(queryRunner, table, column, indexName) {
    const q = (name: string) => queryRunner.connection.driver.escape(name);
    const create = `CREATE UNIQUE INDEX ${q(indexName)} ON ${q(table)} (${sqliteDialect.caseInsensitive.folded(q(column))})`;
    const rows = await queryRunner.query(`SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND name = ?`, [
      table,
      indexName,
    ]);
    return rows.length === 1 && /COLLATE NOCASE/i.test(rows[0].sql) ? [] : [...(rows.length ? [`DROP INDEX ${q(indexName)}`] : []), create];
  },

  async dropIndexIfExists(queryRunner, table, indexName) {
    await queryRunner.query(`DROP INDEX IF EXISTS ${quotedInSchema(queryRunner.connection, table, indexName)}`);
  },

  async dropColumns(queryRunner, table, columns, indexes) {
    const connection = queryRunner.connection;
    for (const name of indexes) await queryRunner.query(`DROP INDEX ${quotedInSchema(connection, table, name)}`);
    for (const name of columns) {
      await queryRunner.query(`ALTER TABLE ${quotedTable(connection, table)} DROP COLUMN ${connection.driver.escape(name)}`);
    }
  },
};

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
