/**
 * Reads a table's live schema straight from the database's catalogue (not through TypeORM), so schema tests
 * check what the database really holds.
 */
import type { DataSource } from "typeorm";
import type { DatabaseKind } from "./servers";

export interface LiveColumn {
  name: string;
  /** The database's own type name, lower case, without length (`character varying`, `varchar`, `int`). */
  type: string;
  length: number | null;
  nullable: boolean;
}

export interface LiveForeignKey {
  column: string;
  referencedTable: string;
  referencedColumn: string;
  onDelete: string;
}

export interface LiveTable {
  columns: Map<string, LiveColumn>;
  /** Columns covered by a single-column unique constraint or unique index. */
  uniqueColumns: Set<string>;
  primaryKey: string[];
  foreignKeys: LiveForeignKey[];
}

export async function introspect(ds: DataSource, kind: DatabaseKind, table: string): Promise<LiveTable> {
  switch (kind) {
    case "sqlite":
      return introspectSqlite(ds, table);
    case "postgres":
      return introspectPostgres(ds, table);
    case "mariadb":
      return introspectMariadb(ds, table);
  }
}

async function introspectSqlite(ds: DataSource, table: string): Promise<LiveTable> {
  const info: any[] = await ds.query(`SELECT * FROM pragma_table_info(?)`, [table]);
  const columns = new Map<string, LiveColumn>();
  for (const c of info) {
    const m = /^([a-z ]+?)\s*(?:\((\d+)\))?$/i.exec(c.type)!;
    columns.set(c.name, {
      name: c.name,
      type: m[1].toLowerCase(),
      length: m[2] ? Number(m[2]) : null,
      nullable: c.notnull === 0 && c.pk === 0,
    });
  }
  const uniqueColumns = new Set<string>();
  const indexes: any[] = await ds.query(`SELECT * FROM pragma_index_list(?)`, [table]);
  for (const index of indexes) {
    if (!index.unique) continue;
    const cols: any[] = await ds.query(`SELECT * FROM pragma_index_info(?)`, [index.name]);
    if (cols.length === 1) uniqueColumns.add(cols[0].name);
  }
  const primaryKey = info
    .filter((c) => c.pk > 0)
    .sort((a, b) => a.pk - b.pk)
    .map((c) => c.name);
  const fks: any[] = await ds.query(`SELECT * FROM pragma_foreign_key_list(?)`, [table]);
  const foreignKeys = fks.map((f) => ({ column: f.from, referencedTable: f.table, referencedColumn: f.to, onDelete: f.on_delete }));
  return { columns, uniqueColumns, primaryKey, foreignKeys };
}

async function introspectPostgres(ds: DataSource, table: string): Promise<LiveTable> {
  const info: any[] = await ds.query(
    `SELECT column_name, data_type, character_maximum_length, is_nullable FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = $1`,
    [table],
  );
  const columns = new Map<string, LiveColumn>();
  for (const c of info) {
    columns.set(c.column_name, {
      name: c.column_name,
      type: c.data_type,
      length: c.character_maximum_length,
      nullable: c.is_nullable === "YES",
    });
  }
  const indexes: any[] = await ds.query(
    `SELECT i.indisunique AS unique, i.indisprimary AS primary,
            array_to_json(ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(n, o)
                                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o)) AS columns
       FROM pg_index i WHERE i.indrelid = $1::regclass`,
    [`"${table}"`],
  );
  const uniqueColumns = new Set<string>(indexes.filter((i) => i.unique && !i.primary && i.columns.length === 1).map((i) => i.columns[0]));
  const primaryKey: string[] = indexes.find((i) => i.primary)?.columns ?? [];
  const fks: any[] = await ds.query(
    `SELECT kcu.column_name, ccu.table_name AS ref_table, ccu.column_name AS ref_column, rc.delete_rule
       FROM information_schema.referential_constraints rc
       JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = rc.constraint_name AND kcu.constraint_schema = rc.constraint_schema
       JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_name = rc.unique_constraint_name AND ccu.constraint_schema = rc.unique_constraint_schema
      WHERE kcu.table_schema = current_schema() AND kcu.table_name = $1`,
    [table],
  );
  const foreignKeys = fks.map((f) => ({
    column: f.column_name,
    referencedTable: f.ref_table,
    referencedColumn: f.ref_column,
    onDelete: f.delete_rule,
  }));
  return { columns, uniqueColumns, primaryKey, foreignKeys };
}

async function introspectMariadb(ds: DataSource, table: string): Promise<LiveTable> {
  const info: any[] = await ds.query(
    `SELECT COLUMN_NAME AS name, DATA_TYPE AS type, CHARACTER_MAXIMUM_LENGTH AS length, IS_NULLABLE AS nullable
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`,
    [table],
  );
  const columns = new Map<string, LiveColumn>();
  for (const c of info) {
    const length = c.type === "varchar" || c.type === "varbinary" ? Number(c.length) : null;
    columns.set(c.name, { name: c.name, type: c.type, length, nullable: c.nullable === "YES" });
  }
  const stats: any[] = await ds.query(
    `SELECT INDEX_NAME AS name, NON_UNIQUE AS nonUnique, COLUMN_NAME AS col, SEQ_IN_INDEX AS seq
       FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY INDEX_NAME, SEQ_IN_INDEX`,
    [table],
  );
  const byIndex = new Map<string, { unique: boolean; columns: string[] }>();
  for (const s of stats) {
    const entry = byIndex.get(s.name) ?? { unique: Number(s.nonUnique) === 0, columns: [] };
    entry.columns.push(s.col);
    byIndex.set(s.name, entry);
  }
  const uniqueColumns = new Set<string>();
  for (const [name, index] of byIndex)
    if (name !== "PRIMARY" && index.unique && index.columns.length === 1) uniqueColumns.add(index.columns[0]);
  const primaryKey = byIndex.get("PRIMARY")?.columns ?? [];
  const fks: any[] = await ds.query(
    `SELECT k.COLUMN_NAME AS col, k.REFERENCED_TABLE_NAME AS refTable, k.REFERENCED_COLUMN_NAME AS refCol, r.DELETE_RULE AS onDelete
       FROM information_schema.KEY_COLUMN_USAGE k
       JOIN information_schema.REFERENTIAL_CONSTRAINTS r ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME
      WHERE k.TABLE_SCHEMA = DATABASE() AND k.TABLE_NAME = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL`,
    [table],
  );
  const foreignKeys = fks.map((f) => ({ column: f.col, referencedTable: f.refTable, referencedColumn: f.refCol, onDelete: f.onDelete }));
  return { columns, uniqueColumns, primaryKey, foreignKeys };
}
