/**
 * `complete`, after the new app version is deployed: the temporary default or trigger removed (SQLite: NOT
 * NULL set), and the shipped migration recorded as applied, which leaves exactly the schema the offline
 * migration leaves.
 */
import { columnDefinition, rewriteSqliteTable } from "../../schema/operations";
import { OnlineUpgradeError } from "../session";
import type { ColumnsStepContext } from "./context";
import { recordStatement, type Phase } from "./shared";

/** The statements of the phase: drop the temporary trigger or default (SQLite: and set NOT NULL), then record. */
function completeStatements(context: ColumnsStepContext, recordSql: string): string[] {
  const { step, dialect, table, token, trigger, tokenStaysNullable, nullableDefinition } = context;
  if (dialect === "sqlite")
    return [
      `DROP TRIGGER IF EXISTS ${trigger}`,
      ...(tokenStaysNullable ? [] : [`(stored schema) ${nullableDefinition(step.token)} → NOT NULL`]),
      recordSql,
    ];
  return [`ALTER TABLE ${table} ALTER COLUMN ${token} DROP DEFAULT${dialect === "mysql" ? ", ALGORITHM=INSTANT" : ""}`, recordSql];
}

/** The `complete` phase of the step. */
export function completePhase(context: ColumnsStepContext): Phase {
  const { session, step, dataSource, dialect, table, token, tokenStaysNullable, nullableDefinition, isRecorded, mysqlTokenDefault } =
    context;
  const recordSql = recordStatement(dataSource, step.migration);
  const statements = completeStatements(context, recordSql);
  return {
    migration: step.migration,
    phase: "complete",
    beforeDeploy: false,
    description: `remove the temporary ${dialect === "sqlite" ? "trigger" : "default"} of ${step.token.databaseName}${
      dialect === "sqlite" && !tokenStaysNullable ? ", make it NOT NULL" : ""
    } and record ${step.migration} as applied (from here on, the old app version cannot ${tokenStaysNullable ? "give its new users a " + step.token.databaseName : "sign users up"})`,
    statements,
    isDone: isRecorded,
    run: async () => {
      if (dialect === "sqlite") {
        await session.transaction(`complete ${step.migration}`, async () => {
          await session.query(statements[0]);
          if (!tokenStaysNullable) {
            const left = Number((await session.query(`SELECT COUNT(*) AS n FROM ${table} WHERE ${token} IS NULL`))[0].n);
            if (left > 0)
              throw new OnlineUpgradeError(
                step.user.tableName,
                step.token.databaseName,
                "rows-without-token",
                `${left} user(s) have no ${step.token.databaseName}; nothing was changed: run the upgrade again`,
              );
            await rewriteSqliteTable(session.runner, step.user, nullableDefinition(step.token), columnDefinition(dataSource, step.token));
          }
          await session.query(recordSql);
        });
      } else if (dialect === "postgres") {
        await session.transaction(`complete ${step.migration}`, async () => {
          await session.query(statements[0]);
          await session.query(recordSql);
        });
      } else {
        if ((await mysqlTokenDefault()) !== null) await session.ddl(`drop the default of ${step.token.databaseName}`, statements[0]);
        await session.query(recordSql);
      }
    },
  };
}
