/**
 * MariaDB: a NOT NULL column becomes nullable without a table rebuild, through a nullable twin.
 *
 * InnoDB makes a column nullable in place only for ROW_FORMAT=REDUNDANT; for the usual DYNAMIC it rebuilds
 * the table. A rebuild's commit holds the table's exclusive lock while it applies the last changes and frees
 * the old data file, and freeing a file of hundreds of megabytes can stall every commit of the server
 * (bench/RESULTS.md: sign-ins waited 312 ms at a million users). Instead, MariaDB 10.4+ adds, drops and moves
 * columns instantly (metadata only):
 *
 * - `expand` adds each column's twin, nullable, right after it, and two triggers that copy the column into its
 *   twin on every insert and update, so both app versions' writes reach the twin;
 * - `backfill` copies the column into the twin for the rows already there, with the token, and again for any
 *   row whose twin differs (a run killed between the swap's statements left writes uncopied);
 * - `indexes`, after the unique indexes, swaps them under `LOCK TABLES … WRITE` (no other session reads or
 *   writes the table for those milliseconds): the triggers dropped, the column dropped and its twin renamed to
 *   it, nullable, in one instant ALTER. The column ends where it was, with the offline migration's definition.
 *
 * Not on Galera (a node's table lock does not stop writes on the other nodes, so a write could fall between
 * the triggers' drop and the ALTER), MySQL, a server that may not move columns instantly
 * (`innodb_instant_alter_column_allowed`), or a COMPRESSED table: there the table is rebuilt as before.
 */
import type { ColumnMetadata } from "typeorm/metadata/ColumnMetadata";
import { isGaleraNode } from "../../datastore/primary";
import { columnDefinition } from "../../schema/operations";
import type { OnlineSession } from "../session";
import type { ColumnsStep } from "../steps";

/** A column that becomes nullable, and its twin's name. */
export interface Twin {
  /** The column that becomes nullable. */
  column: ColumnMetadata;
  /** The twin's name. */
  name: string;
}

/** The twins of a step, with the names of their triggers. */
export interface Twins {
  /** One twin per column that becomes nullable. */
  columns: Twin[];
  /** The insert and update triggers that copy each column into its twin. */
  triggers: { insert: string; update: string };
}

/** The twin column's name: under MariaDB's 64 characters. */
function twinName(column: ColumnMetadata): string {
  return `tsm_online_null_${column.databaseName}`.slice(0, 64);
}

/**
 * The twins of `step` on this MariaDB server, or null where the table is rebuilt instead: where instant moves
 * and drops are not allowed, on a Galera node, for a COMPRESSED table. A run that already added twins or
 * their triggers carries on with them, whatever the server allows now: a rebuild would leave them behind.
 */
export async function twinsOf(session: OnlineSession, step: ColumnsStep): Promise<Twins | null> {
  if (session.dialect !== "mysql" || step.nullable.length === 0) return null;
  const base = `tsm_online_null_${step.user.tableName}`.slice(0, 56);
  const twins: Twins = {
    columns: step.nullable.map((column) => ({ column, name: twinName(column) })),
    triggers: { insert: `${base}_insert`, update: `${base}_update` },
  };
  const present = await twinsPresent(twins, session, step.user.tableName);
  if (present.anyColumn || present.anyTrigger) return twins;
  const [server] = await session.query(`SELECT VERSION() AS version`);
  const [, major, minor] = /^(\d+)\.(\d+)/.exec(String(server.version)) ?? [];
  const mariadb = /mariadb/i.test(String(server.version));
  if (!mariadb || Number(major) * 100 + Number(minor) < 1004) return null;
  // 10.6+ lets a DBA narrow instant changes; 10.4 and 10.5 always allow them.
  const allowed = await session
    .query(`SELECT @@innodb_instant_alter_column_allowed AS allowed`)
    .then(([row]: Array<{ allowed: unknown }>) => String(row.allowed))
    .catch(() => "add_drop_reorder");
  if (allowed !== "add_drop_reorder") return null;
  if (await isGaleraNode(session.dataSource)) return null;
  const [table] = await session.query(
    `SELECT ROW_FORMAT AS format FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`,
    [step.user.tableName],
  );
  return String(table?.format ?? "").toLowerCase() === "compressed" ? null : twins;
}

/** SQL that is true for a row whose twins do not hold its columns (NULL-safe). */
export function twinsBehind(twins: Twins, quote: (name: string) => string): string {
  return twins.columns.map((t) => `NOT (${quote(t.name)} <=> ${quote(t.column.databaseName)})`).join(" OR ");
}

/** The statements that add the twins (each right after its column, nullable) and the triggers that fill them. */
export function addTwinsStatements(twins: Twins, table: string, session: OnlineSession): string[] {
  const q = (name: string) => session.dataSource.driver.escape(name);
  const dataSource = session.dataSource;
  const copy = twins.columns.map((t) => `SET NEW.${q(t.name)} = NEW.${q(t.column.databaseName)}`).join("; ");
  const body = twins.columns.length === 1 ? copy : `BEGIN ${copy}; END`;
  return [
    `ALTER TABLE ${table} ${twins.columns
      .map(
        (t) =>
          `ADD COLUMN ${columnDefinition(dataSource, t.column)
            .replace(q(t.column.databaseName), q(t.name))
            .replace(/ (NOT )?NULL$/, " NULL")} AFTER ${q(t.column.databaseName)}`,
      )
      .join(", ")}, ALGORITHM=INSTANT`,
    `CREATE TRIGGER IF NOT EXISTS ${q(twins.triggers.insert)} BEFORE INSERT ON ${table} FOR EACH ROW ${body}`,
    `CREATE TRIGGER IF NOT EXISTS ${q(twins.triggers.update)} BEFORE UPDATE ON ${table} FOR EACH ROW ${body}`,
  ];
}

/** The statements of the swap, in order: the table locked, the triggers dropped, each column replaced by its twin, unlocked. */
export function swapTwinsStatements(twins: Twins, table: string, session: OnlineSession): string[] {
  const q = (name: string) => session.dataSource.driver.escape(name);
  return [
    `LOCK TABLES ${table} WRITE`,
    `DROP TRIGGER IF EXISTS ${q(twins.triggers.insert)}`,
    `DROP TRIGGER IF EXISTS ${q(twins.triggers.update)}`,
    `ALTER TABLE ${table} ${twins.columns
      .map((t) => `DROP COLUMN ${q(t.column.databaseName)}, CHANGE COLUMN ${q(t.name)} ${columnDefinition(session.dataSource, t.column)}`)
      .join(", ")}, ALGORITHM=INSTANT`,
    `UNLOCK TABLES`,
  ];
}

/** Whether the live database has all (or any) of the twins' columns and triggers. */
export async function twinsPresent(
  twins: Twins,
  session: OnlineSession,
  tableName: string,
): Promise<{ columns: boolean; triggers: boolean; anyColumn: boolean; anyTrigger: boolean }> {
  const columns: Array<{ name: string }> = await session.query(
    `SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`,
    [tableName],
  );
  const triggers: Array<{ name: string }> = await session.query(
    `SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ?`,
    [tableName],
  );
  const names = new Set(columns.map((c) => c.name));
  const triggerNames = new Set(triggers.map((t) => t.name));
  const triggerList = [twins.triggers.insert, twins.triggers.update];
  return {
    columns: twins.columns.every((t) => names.has(t.name)),
    triggers: triggerList.every((name) => triggerNames.has(name)),
    anyColumn: twins.columns.some((t) => names.has(t.name)),
    anyTrigger: triggerList.some((name) => triggerNames.has(name)),
  };
}

/**
 * Swaps each column for its twin while no other session may read or write the table: a session of MariaDB
 * holding `LOCK TABLES … WRITE` is the only one on the table, so no write falls between the triggers' drop and
 * the ALTER. The lock waits at most the session's lock wait, and is tried again as every DDL is.
 */
export async function swapTwins(twins: Twins, table: string, session: OnlineSession): Promise<void> {
  const [lock, ...rest] = swapTwinsStatements(twins, table, session);
  const unlock = rest.pop()!;
  await session.retry(`swap ${twins.columns.map((t) => t.column.databaseName).join(", ")} for nullable twins`, async () => {
    await session.query(lock);
    try {
      for (const statement of rest) await session.query(statement);
    } finally {
      await session.query(unlock);
    }
  });
}
