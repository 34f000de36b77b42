/**
 * The shipped migrations on MariaDB and MySQL, which commit each DDL statement at once: one
 * `ALTER … ALGORITHM=COPY` per table (one copy, no UPDATE, so ON UPDATE CURRENT_TIMESTAMP cannot move
 * `update_datetime`), and every step skipped when already done, so that a rerun after a crash can finish.
 */
import type { QueryRunner } from "typeorm";
import { mysqlDialect } from "../../database/dialects/mysql";
import { quotedInSchema, quotedTable } from "../../database/quoting";
import { MigrationBlockedError } from "../../errors";
import { columnDefinition } from "../column-definition";
import type { ColumnAddition, SchemaDialect } from "./dialect";

/** MariaDB/MySQL's side of the shipped migrations. */
export const mysqlSchema: SchemaDialect = {
  database: mysqlDialect,
  commitsDdlAtOnce: true,
  newIndexName: quotedInSchema,
  requireSchemas: () => Promise.resolve(),
  idList: (id) => `GROUP_CONCAT(${id} ORDER BY ${id})`,

  async randomToken(queryRunner) {
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
  },

  /** One ALTER … ALGORITHM=COPY with the columns, the token default and the indexes, then DROP DEFAULT. */
  async addColumns(queryRunner: QueryRunner, addition: ColumnAddition): Promise<void> {
    const connection = queryRunner.connection;
    const q = (name: string) => connection.driver.escape(name);
    const { quoted: table, token } = addition;
    const existing = await queryRunner.getTable(addition.table.tablePath);
    const missingColumns = addition.columns.filter((c) => !existing?.findColumnByName(c.databaseName));
    const missingIndexes = addition.indexes.filter((i) => !existing?.indices.some((e) => e.name === i.name));
    const stillNotNull = addition.relaxed.filter((c) => existing?.findColumnByName(c.databaseName)?.isNullable === false);
    const parts = [
      ...missingColumns.map(
        (column) => `ADD COLUMN ${columnDefinition(connection, column)}${column === token ? ` DEFAULT (${addition.random})` : ""}`,
      ),
      ...stillNotNull.map((column) => `MODIFY COLUMN ${columnDefinition(connection, column)}`),
      ...missingIndexes.map((index) => `ADD UNIQUE INDEX ${q(index.name)} (${index.columns.map((c) => q(c.databaseName)).join(", ")})`),
    ];
    if (parts.length > 0)
      await addition.explainingDuplicates(() => queryRunner.query(`ALTER TABLE ${table} ${parts.join(", ")}, ALGORITHM=COPY`));
    if (token) await queryRunner.query(`ALTER TABLE ${table} ALTER COLUMN ${q(token.databaseName)} DROP DEFAULT`);
  },

  async setNotNull(queryRunner, table, column) {
    const notNull = columnDefinition(queryRunner.connection, column).replace(/ (NOT )?NULL$/, " NOT NULL");
    await queryRunner.query(`ALTER TABLE ${quotedTable(queryRunner.connection, table)} MODIFY COLUMN ${notNull}`);
  },

  // The column's collation is the rule here: there is no index of its own to repair.
  caseInsensitiveUniqueRepair: () => Promise.resolve([]),

  /** MySQL 8 has no DROP INDEX IF EXISTS, so it looks first. */
  async dropIndexIfExists(queryRunner, table, indexName) {
    const existing = await queryRunner.getTable(table.tablePath);
    if (existing?.indices.some((index) => index.name === indexName)) {
      await queryRunner.query(
        `DROP INDEX ${queryRunner.connection.driver.escape(indexName)} ON ${quotedTable(queryRunner.connection, table)}`,
      );
    }
  },

  async dropColumns(queryRunner, table, columns, indexes) {
    const q = (name: string) => queryRunner.connection.driver.escape(name);
    const parts = [...indexes.map((name) => `DROP INDEX ${q(name)}`), ...columns.map((name) => `DROP COLUMN ${q(name)}`)];
    if (parts.length > 0) await queryRunner.query(`ALTER TABLE ${quotedTable(queryRunner.connection, table)} ${parts.join(", ")}`);
  },
};
