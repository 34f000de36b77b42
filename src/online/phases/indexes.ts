/**
 * `indexes`: the step's unique indexes, built without blocking writes: PostgreSQL `CREATE INDEX CONCURRENTLY`,
 * MariaDB/MySQL one `ALTER … ALGORITHM=INPLACE, LOCK=NONE` (which also makes the step's columns nullable),
 * SQLite one short transaction per index. A build that meets duplicates lists them as the offline migration
 * does.
 */
import type { IndexMetadata } from "typeorm/metadata/IndexMetadata";
import { isDuplicateKey } from "../../datastore/database-errors";
import { caseFolded, columnDefinition, explainDuplicates, newIndexName, refuseCaseDuplicates } from "../../schema/operations";
import { quotedInSchema } from "../../database/quoting";
import type { Dialect } from "../../database/dialect";
import type { ColumnsStepContext } from "./context";
import type { Phase } from "./shared";
import { swapTwins, swapTwinsStatements } from "./twins";

/** The names of the unique indexes the step builds on this database (MariaDB/MySQL: the collation does the letter case). */
function wantedIndexes({ step, dialect }: ColumnsStepContext): string[] {
  return [...(step.caseInsensitive && dialect !== "mysql" ? [step.caseInsensitive.index] : []), ...step.indexes.map((i) => i.name)];
}

/** Index name → valid (PostgreSQL: false for a build that was interrupted). */
async function liveIndexes({ session, step, dialect, table, liveTable }: ColumnsStepContext): Promise<Map<string, boolean>> {
  if (dialect === "postgres") {
    const rows: Array<{ name: string; valid: boolean }> = await session.query(
      `SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
          WHERE i.indrelid = $1::regclass`,
      [table],
    );
    return new Map(rows.map((r) => [r.name, r.valid]));
  }
  if (dialect === "sqlite") {
    const rows: Array<{ name: string }> = await session.query(`SELECT name FROM pragma_index_list(?)`, [step.user.tableName]);
    return new Map(rows.map((r) => [r.name, true]));
  }
  const t = await liveTable();
  return new Map(t.indices.map((i) => [i.name!, true]));
}

/** Whether every index of the step is built and valid (MariaDB/MySQL: and its columns made nullable, in the same ALTER). */
export async function indexesBuilt(context: ColumnsStepContext): Promise<boolean> {
  const present = await liveIndexes(context);
  if (!wantedIndexes(context).every((name) => present.get(name) === true)) return false;
  return context.dialect !== "mysql" || (await context.nullableNow());
}

/** The rows that break a unique index, listed as the offline migration lists them (throws), after a failed build. */
async function explainIndexFailure({ session, step }: ColumnsStepContext, name: string): Promise<void> {
  if (step.caseInsensitive && name === step.caseInsensitive.index) {
    await refuseCaseDuplicates(session.runner, step.user, step.caseInsensitive.column, step.caseInsensitive.why);
  }
  const index = step.indexes.find((i) => i.name === name);
  for (const column of index?.columns ?? []) await explainDuplicates(session.runner, step.user, column.databaseName, step.uniqueBecause);
}

/** The statements of the phase: one per index (PostgreSQL, SQLite) or one ALTER for all (MariaDB/MySQL). */
function indexStatements({ dataSource, session, step, dialect, quote: q, table, twins }: ColumnsStepContext): string[] {
  const indexSql = (index: IndexMetadata, concurrently = "") =>
    `CREATE UNIQUE INDEX ${concurrently}${newIndexName(dataSource, step.user, index.name)} ON ${table} (${index.columns
      .map((c) => q(c.databaseName))
      .join(", ")})`;
  const caseSql = (concurrently = "") =>
    step.caseInsensitive && dialect !== "mysql"
      ? [
          `CREATE UNIQUE INDEX ${concurrently}${newIndexName(dataSource, step.user, step.caseInsensitive.index)} ON ${table} (${caseFolded(dataSource, step.caseInsensitive.column)})`,
        ]
      : [];
  const byDialect: Record<Dialect, () => string[]> = {
    postgres: () => [...caseSql("CONCURRENTLY "), ...step.indexes.map((i) => indexSql(i, "CONCURRENTLY "))],
    mysql: () => [
      // Without a column to make nullable (or with twins for them), INPLACE builds the secondary indexes
      // without rebuilding the table (MariaDB's NOCOPY would say so, but MySQL does not know it).
      `ALTER TABLE ${table} ${[
        ...(twins ? [] : step.nullable.map((c) => `MODIFY COLUMN ${columnDefinition(dataSource, c)}`)),
        ...step.indexes.map((i) => `ADD UNIQUE INDEX ${q(i.name)} (${i.columns.map((c) => q(c.databaseName)).join(", ")})`),
      ].join(", ")}, ALGORITHM=INPLACE, LOCK=NONE`,
      ...(twins ? swapTwinsStatements(twins, table, session) : []),
    ],
    sqlite: () => [...caseSql(), ...step.indexes.map((i) => indexSql(i))],
  };
  return byDialect[dialect]();
}

/** What the phase says it does, by database. */
function indexesDescription(context: ColumnsStepContext): string {
  const { step, dialect } = context;
  const wanted = wantedIndexes(context);
  const nullable = step.nullable.map((c) => c.databaseName).join(", ");
  const mysqlHow = context.twins
    ? ` in one ALTER … ALGORITHM=INPLACE, LOCK=NONE (no table rebuild; reads and writes go on), then swap ${nullable} for ` +
      `${context.twins.columns.length > 1 ? "their nullable twins" : "its nullable twin"} in one instant ALTER under ` +
      `LOCK TABLES (reads and writes of the table wait for those milliseconds)`
    : step.nullable.length
      ? `, make ${nullable} nullable in one ALTER … ALGORITHM=INPLACE, LOCK=NONE (a table rebuild; reads and writes go on, but its commit stops them for a moment that grows with the table)`
      : ` in one ALTER … ALGORITHM=INPLACE, LOCK=NONE (no table rebuild; reads and writes go on)`;
  const byDialect: Record<Dialect, () => string> = {
    mysql: () => `build the unique indexes ${step.indexes.map((i) => i.name).join(", ")}${mysqlHow}`,
    postgres: () => `build the unique indexes ${wanted.join(", ")} with CREATE INDEX CONCURRENTLY (reads and writes go on)`,
    sqlite: () => `build the unique indexes ${wanted.join(", ")}, each in one write transaction`,
  };
  return byDialect[dialect]();
}

/** The `indexes` phase of the step. */
export function indexesPhase(context: ColumnsStepContext): Phase {
  const { session, step, dataSource, dialect } = context;
  const statements = indexStatements(context);
  const dropInvalid = (name: string) =>
    session.ddl(`drop invalid ${name}`, `DROP INDEX CONCURRENTLY IF EXISTS ${quotedInSchema(dataSource, step.user, name)}`, false);
  return {
    migration: step.migration,
    phase: "indexes",
    beforeDeploy: true,
    description: indexesDescription(context),
    statements,
    isDone: () => indexesBuilt(context),
    run: async () => {
      if (dialect === "mysql") {
        const { twins, table } = context;
        const present = await liveIndexes(context);
        try {
          if (!twins || !step.indexes.every((i) => present.has(i.name)))
            await session.ddl(`indexes of ${step.user.tableName}`, statements[0]);
        } catch (error) {
          if (isDuplicateKey(error)) for (const index of step.indexes) await explainIndexFailure(context, index.name);
          throw error;
        }
        if (twins && !(await indexesBuilt(context))) await swapTwins(twins, table, session);
        return;
      }
      const present = await liveIndexes(context);
      for (const [i, name] of wantedIndexes(context).entries()) {
        if (present.get(name) === true) continue;
        try {
          if (dialect === "postgres") {
            // An interrupted CONCURRENTLY build leaves an invalid index behind: drop it, then build again.
            if (present.has(name)) await dropInvalid(name);
            await session.ddl(`index ${name}`, statements[i], false);
          } else {
            await session.transaction(`index ${name}`, () =>
              session.query(statements[i].replace("CREATE UNIQUE INDEX", "CREATE UNIQUE INDEX IF NOT EXISTS")),
            );
          }
        } catch (error) {
          if (!isDuplicateKey(error)) throw error;
          if (dialect === "postgres") await dropInvalid(name);
          await explainIndexFailure(context, name);
          throw error;
        }
      }
    },
  };
}
