/**
 * A whole database as text: every table's definition (columns, indexes, keys, constraints) and every row,
 * TypeORM's `migrations` table included. Two dumps are equal only when nothing at all changed in between,
 * which is what a refused migration promises.
 */
import type { DataSource } from "typeorm";
import type { DatabaseKind } from "./servers";

/** The definitions of every table (in `schema` on PostgreSQL, default: the session's current schema). */
export async function schemaDump(
  ds: DataSource,
  kind: DatabaseKind,
  options: { except?: string[]; schema?: string } = {},
): Promise<string> {
  const except = options.except ?? [];
  const rows = async (sql: string, parameters: unknown[] = []) => JSON.stringify(await ds.query(sql, parameters));
  if (kind === "sqlite") {
    const all: Array<{ tbl_name: string }> = await ds.query(
      `SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name <> 'sqlite_sequence' ORDER BY type, name`,
    );
    return JSON.stringify(all.filter((row) => !except.includes(row.tbl_name)));
  }
  if (kind === "postgres") {
    const schema = options.schema ?? (await ds.query(`SELECT current_schema() AS s`))[0].s;
    return [
      await rows(
        `SELECT table_name, column_name, ordinal_position, data_type, character_maximum_length, is_nullable, column_default, collation_name
           FROM information_schema.columns WHERE table_schema = $1 AND NOT (table_name = ANY($2)) ORDER BY table_name, ordinal_position`,
        [schema, except],
      ),
      await rows(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND NOT (tablename = ANY($2)) ORDER BY indexname`, [
        schema,
        except,
      ]),
      await rows(
        `SELECT c.conname, c.conrelid::regclass::text AS tbl, pg_get_constraintdef(c.oid) AS def FROM pg_constraint c
           JOIN pg_class t ON t.oid = c.conrelid WHERE c.connamespace = $1::regnamespace AND NOT (t.relname = ANY($2)) ORDER BY c.conname`,
        [schema, except],
      ),
    ].join("\n");
  }
  const tables: Array<{ name: string }> = await ds.query(
    `SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME`,
  );
  const created = [];
  for (const { name } of tables.filter((t) => !except.includes(t.name))) {
    const [row] = await ds.query(`SHOW CREATE TABLE \`${name}\``);
    created.push(String(row["Create Table"]).replace(/ AUTO_INCREMENT=\d+/, ""));
  }
  return created.join("\n");
}

/** Every row of every table (in `schema` on PostgreSQL), in a stable order. */
export async function dataDump(ds: DataSource, kind: DatabaseKind, options: { schema?: string } = {}): Promise<string> {
  const tables: string[] =
    kind === "sqlite"
      ? (await ds.query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)).map(
          (r: { name: string }) => r.name,
        )
      : kind === "postgres"
        ? (
            await ds.query(`SELECT tablename AS name FROM pg_tables WHERE schemaname = COALESCE($1, current_schema()) ORDER BY tablename`, [
              options.schema ?? null,
            ])
          ).map((r: { name: string }) => r.name)
        : (
            await ds.query(`SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME`)
          ).map((r: { name: string }) => r.name);
  const dump: Record<string, string[]> = {};
  for (const table of tables) {
    const quoted = [kind === "postgres" ? options.schema : undefined, table]
      .filter(Boolean)
      .map((part) => ds.driver.escape(part!))
      .join(".");
    const rows: Array<Record<string, unknown>> = await ds.query(`SELECT * FROM ${quoted}`);
    dump[table] = rows.map((row) => JSON.stringify(row)).sort();
  }
  return JSON.stringify(dump, null, 1);
}

/** The schema and every row: equal dumps mean an unchanged database. */
export async function databaseDump(ds: DataSource, kind: DatabaseKind, options: { schema?: string } = {}): Promise<string> {
  return `${await schemaDump(ds, kind, options)}\n${await dataDump(ds, kind, options)}`;
}
