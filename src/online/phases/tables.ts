/** The online step that only creates tables (V3 to V4): its `create` and `complete` phases. */
import type { Dialect } from "../../database/dialect";
import { OnlineUpgradeError, type OnlineSession } from "../session";
import type { TablesStep } from "../steps";
import { createMissingTables, createTableStatements, migrationRecorded, missingTables, recordStatement, type Phase } from "./shared";

/**
 * The phases of a step that only creates tables (V3 to V4): `create`, one short statement per table whose
 * foreign key locks the user table for a moment (PostgreSQL SHARE ROW EXCLUSIVE, which blocks writes; MariaDB
 * a metadata lock), so it waits at most `lockTimeoutMs` for that lock and is tried again; then `complete`,
 * which records the shipped migration. Both app versions work after `create`: the old one never reads the
 * new tables.
 */
export async function tablesStepPhases(session: OnlineSession, step: TablesStep): Promise<Phase[]> {
  const { dataSource, dialect } = session;
  const base = { migration: step.migration };
  const names = step.tables.map((t) => t.tableName).join(", ");
  const isRecorded = () => migrationRecorded(session, step.migration);
  const recordSql = recordStatement(dataSource, step.migration);
  /** How creating the tables holds up the app, by database. */
  const createLocks: Record<Dialect, string> = {
    postgres: `the key's SHARE ROW EXCLUSIVE lock on ${step.user.tableName} pauses its writes for a moment; waits at most the lock timeout for it, then tries again`,
    mysql: `a metadata lock on ${step.user.tableName} for a moment; waits at most the lock timeout for it, then tries again`,
    sqlite: "one write transaction",
  };
  const create: Phase = {
    ...base,
    phase: "create",
    beforeDeploy: true,
    description: `create ${names} with its indexes and its foreign key to ${step.user.tableName} (${createLocks[dialect]})`,
    statements: await createTableStatements(session, step.tables),
    isDone: async () => (await isRecorded()) || (await missingTables(session, step.tables)).length === 0,
    run: async () => {
      if (dialect === "mysql") await createMissingTables(session, step.tables);
      else await session.transaction(`create ${names}`, () => createMissingTables(session, step.tables));
      // Made by this run, committed: later checks in it need only ask whether they are still there.
      for (const table of step.tables) session.tablesFoundOurs.add(table.tablePath);
    },
  };
  const complete: Phase = {
    ...base,
    phase: "complete",
    beforeDeploy: false,
    description: `record ${step.migration} as applied (nothing else changes: the old app version keeps working)`,
    statements: [recordSql],
    isDone: isRecorded,
    run: async () => {
      // The table is checked again: recorded, a table dropped since the create phase would never be made.
      await session.transaction(`complete ${step.migration}`, async () => {
        if ((await missingTables(session, step.tables)).length > 0)
          throw new OnlineUpgradeError(
            names,
            "(table)",
            "table-missing",
            `${names} is missing; nothing was recorded: run the upgrade again`,
          );
        await session.query(recordSql);
      });
    },
  };
  return [create, complete];
}
