/**
 * The shipped migrations on PostgreSQL: one ALTER per table whose volatile default fills the token column
 * during the single table rewrite, indexes after it, and a savepoint around the unique-index builds so that a
 * refusal can still list the offending rows inside the migration's transaction.
 */
import type { QueryRunner } from "typeorm";
import { postgresDialect } from "../../database/dialects/postgres";
import { quotedInSchema, quotedTable } from "../../database/quoting";
import { MigrationBlockedError } from "../../errors";
import { columnDefinition } from "../column-definition";
import type { ColumnAddition, SchemaDialect } from "./dialect";

/** PostgreSQL's side of the shipped migrations. */
export const postgresSchema: SchemaDialect = {
  database: postgresDialect,
  commitsDdlAtOnce: false,
  // PostgreSQL puts a new index in its table's schema itself, and refuses a schema-qualified index name.
  newIndexName: (connection, _metadata, name) => connection.driver.escape(name),

  async requireSchemas(queryRunner, metadatas) {
    // A schema named only on the entities (the DataSource's own must exist before TypeORM's runner starts).
    const driverSchema = (queryRunner.connection.options as { schema?: string }).schema;
    const schemas = new Set(metadatas.map((m) => m.schema).filter((schema) => schema && schema !== driverSchema));
    for (const schema of schemas) {
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
  },

  idList: (id) => `string_agg(${id}::text, ',' ORDER BY ${id})`,

  async randomToken(queryRunner) {
    const [{ pgcrypto }] = await queryRunner.query(`SELECT to_regprocedure('gen_random_bytes(integer)') IS NOT NULL AS pgcrypto`);
    // pgcrypto when the database has it (1.4 s per million tokens here); otherwise core gen_random_uuid()
    // (PostgreSQL 13+, 2.3 s per million), also from the operating system's random source: two of them give
    // 244 random bits in 64 hex characters.
    return pgcrypto ? "encode(gen_random_bytes(32), 'hex')" : "encode(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()), 'hex')";
  },

  /** One ALTER whose volatile default fills the token during the single table rewrite, DROP DEFAULT, then the indexes. */
  async addColumns(queryRunner: QueryRunner, addition: ColumnAddition): Promise<void> {
    const connection = queryRunner.connection;
    const q = (name: string) => connection.driver.escape(name);
    const { quoted: table, token } = addition;
    // Indexes after the rewrite: an index built before it would be rebuilt by it.
    const adds = addition.columns.map(
      (column) => `ADD COLUMN ${columnDefinition(connection, column)}${column === token ? ` DEFAULT ${addition.random}` : ""}`,
    );
    const drops = addition.relaxed.map((column) => `ALTER COLUMN ${q(column.databaseName)} DROP NOT NULL`);
    await queryRunner.query(`ALTER TABLE ${table} ${[...adds, ...drops].join(", ")}`);
    if (token) await queryRunner.query(`ALTER TABLE ${table} ALTER COLUMN ${q(token.databaseName)} DROP DEFAULT`);
    // A failed statement aborts PostgreSQL's transaction: back to the savepoint before listing the rows.
    await addition.explainingDuplicates(async () => {
      await queryRunner.query(`SAVEPOINT tsm_unique_check`);
      try {
        for (const index of addition.onExisting) await queryRunner.query(addition.createIndex(index));
        await queryRunner.query(`RELEASE SAVEPOINT tsm_unique_check`);
      } catch (error) {
        await queryRunner.query(`ROLLBACK TO SAVEPOINT tsm_unique_check`);
        throw error;
      }
    });
    for (const index of addition.onNew) await queryRunner.query(addition.createIndex(index));
  },

  async setNotNull(queryRunner, table, column) {
    const connection = queryRunner.connection;
    await queryRunner.query(
      `ALTER TABLE ${quotedTable(connection, table)} ALTER COLUMN ${connection.driver.escape(column.databaseName)} SET NOT NULL`,
    );
  },

  async caseInsensitiveUniqueRepair(queryRunner, table, column, indexName, schema) {
    const q = (name: string) => queryRunner.connection.driver.escape(name);
    const inSchema = (name: string) => (schema ? `${q(schema)}.${q(name)}` : q(name));
    const create = `CREATE UNIQUE INDEX ${q(indexName)} ON ${inSchema(table)} (${postgresDialect.caseInsensitive.folded(q(column))})`;
    const rows = await queryRunner.query(
      `SELECT indexdef FROM pg_indexes WHERE schemaname = COALESCE($3, current_schema()) AND tablename = $1 AND indexname = $2`,
      [table, indexName, schema ?? null],
    );
    return rows.length === 1 && /lower\(/i.test(rows[0].indexdef)
      ? []
      : [...(rows.length ? [`DROP INDEX ${inSchema(indexName)}`] : []), create];
  },

  async dropIndexIfExists(queryRunner, table, indexName) {
    await queryRunner.query(`DROP INDEX IF EXISTS ${quotedInSchema(queryRunner.connection, table, indexName)}`);
  },

  async dropColumns(queryRunner, table, columns, indexes) {
    const connection = queryRunner.connection;
    for (const name of indexes) await queryRunner.query(`DROP INDEX ${quotedInSchema(connection, table, name)}`);
    if (columns.length > 0)
      await queryRunner.query(
        `ALTER TABLE ${quotedTable(connection, table)} ${columns.map((name) => `DROP COLUMN ${connection.driver.escape(name)}`).join(", ")}`,
      );
  },
};
