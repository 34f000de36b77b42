/**
 * `expand`: the new columns, nullable, with a database default (PostgreSQL, MariaDB/MySQL) or an insert
 * trigger (SQLite) that gives every new row a random token, so users the old app version creates get one
 * too; columns that become nullable; new tables. Metadata-only statements, each waiting at most
 * `lockTimeoutMs` for its lock.
 */
import { columnDefinition, setSqliteNotNull } from "../../schema/operations";
import { quotedTable } from "../../database/quoting";
import type { Dialect } from "../../database/dialect";
import { OnlineUpgradeError } from "../session";
import type { ColumnsStepContext } from "./context";
import { createMissingTables, missingTables, type Phase } from "./shared";
import { addTwinsStatements, twinsPresent } from "./twins";

/** The `ADD COLUMN` clauses of the step: the token nullable, or (MariaDB/MySQL, ending NOT NULL) with the placeholder. */
function addColumnClauses({ dataSource, step, tokenPlaceholder, nullableDefinition }: ColumnsStepContext): string[] {
  return step.columns.map(
    (c) =>
      `ADD COLUMN ${
        c !== step.token
          ? columnDefinition(dataSource, c)
          : tokenPlaceholder
            ? `${columnDefinition(dataSource, c)} DEFAULT ${tokenPlaceholder}`
            : nullableDefinition(c)
      }`,
  );
}

/** SQLite: the insert trigger that gives a new row without a token its random one. */
function sqliteTriggerSql({ table, token, random, trigger }: ColumnsStepContext): string {
  return (
    `CREATE TRIGGER IF NOT EXISTS ${trigger} AFTER INSERT ON ${table} FOR EACH ROW WHEN NEW.${token} IS NULL ` +
    `BEGIN UPDATE ${table} SET ${token} = ${random} WHERE rowid = NEW.rowid; END`
  );
}

/** The statements of the phase as the plan shows them, by database (the new tables summarised). */
function expandStatements(context: ColumnsStepContext): string[] {
  const { dataSource, step, dialect, quote: q, table, token, random } = context;
  const addColumns = addColumnClauses(context);
  const createTables = step.tables.map((t) => `CREATE TABLE ${quotedTable(dataSource, t)} (…) with its indexes and foreign keys`);
  const byDialect: Record<Dialect, () => string[]> = {
    postgres: () => [
      `ALTER TABLE ${table} ${[...addColumns, ...step.nullable.map((c) => `ALTER COLUMN ${q(c.databaseName)} DROP NOT NULL`)].join(", ")}`,
      `ALTER TABLE ${table} ALTER COLUMN ${token} SET DEFAULT ${random}`,
      ...createTables,
    ],
    mysql: () => [
      `ALTER TABLE ${table} ${addColumns.join(", ")}, ALGORITHM=INSTANT`,
      `ALTER TABLE ${table} ALTER COLUMN ${token} SET DEFAULT (${random}), ALGORITHM=INSTANT`,
      ...(context.twins ? addTwinsStatements(context.twins, table, context.session) : []),
      ...createTables,
    ],
    sqlite: () => [
      ...addColumns.map((a) => `ALTER TABLE ${table} ${a}`),
      sqliteTriggerSql(context),
      ...step.nullable.map((c) => `(stored schema) ${columnDefinition(dataSource, c).replace(/ NULL$/, "")} NOT NULL → NULL`),
      ...createTables,
    ],
  };
  return byDialect[dialect]();
}

/** The `expand` phase of the step. */
export function expandPhase(context: ColumnsStepContext): Phase {
  const { session, step, dialect, table, tokenPlaceholder, liveTable, hasNewColumns, isRecorded, mysqlTokenDefault } = context;
  const statements = expandStatements(context);
  const { twins, nullableNow } = context;
  /** Whether the columns to make nullable are (swapped already), or have their twins and triggers (MariaDB). */
  const twinsReady = async () => {
    if (!twins || (await nullableNow())) return true;
    const present = await twinsPresent(twins, session, step.user.tableName);
    return present.columns && present.triggers;
  };
  return {
    migration: step.migration,
    phase: "expand",
    beforeDeploy: true,
    description: `add ${step.columns.map((c) => c.databaseName).join(", ")} (${
      tokenPlaceholder ? `nullable, ${step.token.databaseName} NOT NULL with '' for the users already there` : "nullable"
    }, metadata only) with a random ${step.token.databaseName} for every new row${
      step.nullable.length
        ? context.twins
          ? `; add a nullable twin of ${step.nullable.map((c) => c.databaseName).join(", ")} (metadata only) and the triggers that copy every write into it`
          : `; make ${step.nullable.map((c) => c.databaseName).join(", ")} nullable`
        : ""
    }${step.tables.length ? `; create ${step.tables.map((t) => t.tableName).join(", ")}` : ""}`,
    statements,
    isDone: async () => {
      if (!(await hasNewColumns()) || (await missingTables(session, step.tables)).length > 0) return false;
      if (dialect === "sqlite") return true; // one transaction
      // A complete phase killed between dropping the default and recording the step comes back here: the
      // default is set again, and dropped again by complete.
      if (dialect === "mysql") return (await isRecorded()) || ((await mysqlTokenDefault()) !== null && (await twinsReady()));
      return true; // one transaction
    },
    run: async () => {
      if (dialect === "postgres") {
        await session.transaction(`expand ${step.user.tableName}`, async () => {
          if (!(await hasNewColumns())) {
            await session.query(statements[0]);
            await session.query(statements[1]);
          }
          await createMissingTables(session, step.tables);
        });
      } else if (dialect === "sqlite") {
        await session.transaction(`expand ${step.user.tableName}`, async () => {
          if (!(await hasNewColumns())) {
            for (const add of addColumnClauses(context)) await session.query(`ALTER TABLE ${table} ${add}`);
            await session.query(sqliteTriggerSql(context));
            for (const column of step.nullable) await setSqliteNotNull(session.runner, step.user, column, false);
          }
          await createMissingTables(session, step.tables);
        });
      } else {
        const t = await liveTable();
        const missing = step.columns.filter((c) => !t.findColumnByName(c.databaseName));
        // MariaDB commits each statement: columns first (all in one), then the default, each skipped when there.
        if (missing.length > 0) {
          if (missing.length !== step.columns.length) {
            throw new OnlineUpgradeError(
              step.user.tableName,
              "(table)",
              "unexpected-columns",
              `only some of the new columns exist; nothing was changed`,
            );
          }
          await session.ddl(`add columns to ${step.user.tableName}`, statements[0]);
        }
        if ((await mysqlTokenDefault()) === null) await session.ddl(`default of ${step.token.databaseName}`, statements[1]);
        if (twins && !(await nullableNow())) {
          // The twins first, then their triggers: a row written between the two is caught by the backfill,
          // which copies every row whose twin differs from its column.
          const [addTwins, insertTrigger, updateTrigger] = addTwinsStatements(twins, table, session);
          if (!(await twinsPresent(twins, session, step.user.tableName)).columns)
            await session.ddl(`twins of ${step.nullable.map((c) => c.databaseName).join(", ")}`, addTwins);
          await session.ddl(`insert trigger of the twins`, insertTrigger);
          await session.ddl(`update trigger of the twins`, updateTrigger);
        }
        await createMissingTables(session, step.tables);
      }
    },
  };
}
