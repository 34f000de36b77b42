/**
 * What the phases of both kinds of step share: the `Phase` each builds, the migrations table they read and
 * write (a step is done once its shipped migration is recorded), the step's new tables, and the names of the
 * temporary objects.
 */
import type { DataSource, EntityMetadata } from "typeorm";
import type { ColumnMetadata } from "typeorm/metadata/ColumnMetadata";
import { createCheckedTables, madeByThisPackage } from "../../schema/operations";
import { MigrationBlockedError } from "../../errors";
import { migrationsTable, recordedMigrations as recordedIn } from "../../checks/status";
import type { OnlineSession } from "../session";
import type { OnlinePhasePlan, OnlineUpgradeProgress } from "../upgrade";

/** One phase of a step as the runner uses it: its plan, whether the database shows it done, and how to run it. */
export interface Phase extends Omit<OnlinePhasePlan, "done" | "rows"> {
  /** Whether the database already shows the phase done (read fresh each time). */
  isDone(): Promise<boolean>;
  /** Backfill: users still without a token. */
  rows?(): Promise<number>;
  /** Backfill: what the plan adds to the description for `rows` users left (server settings that will slow it). */
  advise?(rows: number): string;
  /** Does what is missing of the phase, reporting progress through `report`. */
  run(report: (progress: Omit<OnlineUpgradeProgress, "migration" | "phase">) => Promise<void>): Promise<void>;
}

/** The names of the migrations recorded as applied (none when the migrations table is not there). */
export function recordedMigrations(session: OnlineSession): Promise<string[]> {
  return recordedIn(session.dataSource, session.runner);
}

/** Whether `migration` is recorded as applied: its step is complete. */
export async function migrationRecorded(session: OnlineSession, migration: string): Promise<boolean> {
  return (await recordedMigrations(session)).includes(migration);
}

/** The INSERT that records `migration` as applied, as TypeORM records it. */
export function recordStatement(dataSource: DataSource, migration: string): string {
  const q = (name: string) => dataSource.driver.escape(name);
  const timestamp = Number(/(\d{13})$/.exec(migration)![1]);
  return `INSERT INTO ${migrationsTable(dataSource).quoted} (${q("timestamp")}, ${q("name")}) VALUES (${timestamp}, '${migration}')`;
}

/** The name of the temporary objects of an online upgrade (SQLite trigger, PostgreSQL check constraint). */
export function temporaryName(kind: "fill" | "not_null", column: ColumnMetadata): string {
  return `tsm_online_${kind}_${column.databaseName}`.slice(0, 63);
}

/**
 * The tables of a step not in the database yet. One that is there but was not made by this package (by
 * Flask-Security, synchronize or anything else) stops the step, changing nothing, as the offline migration
 * stops: recorded as applied, it would leave a schema the migration never made. Each table is read whole
 * once per run (`OnlineSession.tablesFoundOurs`); after that only whether it is still there.
 */
export async function missingTables(session: OnlineSession, tables: EntityMetadata[]): Promise<EntityMetadata[]> {
  const missing: EntityMetadata[] = [];
  for (const metadata of tables) {
    if (session.tablesFoundOurs.has(metadata.tablePath)) {
      if (!(await session.runner.hasTable(metadata.tablePath))) {
        session.tablesFoundOurs.delete(metadata.tablePath);
        missing.push(metadata);
      }
      continue;
    }
    const existing = await session.runner.getTable(metadata.tablePath);
    if (!existing) missing.push(metadata);
    else if (madeByThisPackage(existing, metadata)) session.tablesFoundOurs.add(metadata.tablePath);
    else
      throw new MigrationBlockedError(
        metadata.tableName,
        "(table)",
        "table-exists",
        `table "${metadata.tablePath}" already exists and was not made by this package. Nothing was changed. ` +
          `If it was made by Flask-Security or synchronize, adopt it instead (see the README).`,
      );
  }
  return missing;
}

/**
 * Creates the step's missing tables with their indexes and foreign keys, in the caller's transaction
 * (PostgreSQL, SQLite); MariaDB/MySQL commit each statement, each waiting at most the session's lock wait
 * for the metadata lock on the parent table and tried again.
 */
export async function createMissingTables(session: OnlineSession, tables: EntityMetadata[]): Promise<void> {
  const missing = await missingTables(session, tables);
  if (missing.length === 0) return;
  if (session.dialect === "mysql")
    return session.retry(`create ${missing.map((m) => m.tableName).join(", ")}`, () => createCheckedTables(session.runner, missing));
  await createCheckedTables(session.runner, missing);
}

/** The statements that create `tables`, as the query runner would send them (for the plan). */
export async function createTableStatements(session: OnlineSession, tables: EntityMetadata[]): Promise<string[]> {
  const { runner } = session;
  runner.enableSqlMemory();
  try {
    await createCheckedTables(runner, tables);
    return runner.getMemorySql().upQueries.map((query) => query.query);
  } finally {
    runner.disableSqlMemory();
  }
}
