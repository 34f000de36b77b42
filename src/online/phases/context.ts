/**
 * What every phase of a step that changes the user table works from, built once per step: the session and
 * the step, the quoted names, the random-token SQL, how a user without a token looks, and the readers of the
 * live table. Each phase (`check.ts` … `complete.ts`) takes it and builds its `Phase`.
 */
import type { DataSource, Table } from "typeorm";
import type { ColumnMetadata } from "typeorm/metadata/ColumnMetadata";
import { columnDefinition, randomTokenSql } from "../../schema/operations";
import { quotedTable } from "../../database/quoting";
import type { Dialect } from "../../database/dialect";
import { redoLogSize, type RedoLogSize } from "../redo-log";
import type { OnlineSession } from "../session";
import type { ColumnsStep } from "../steps";
import type { Settings } from "../upgrade";
import { migrationRecorded, temporaryName, type Phase } from "./shared";
import { twinsBehind, twinsOf, twinsPresent, type Twins } from "./twins";

/** One step that changes the user table, as its phases see it. */
export interface ColumnsStepContext {
  /** The upgrade's connection. */
  session: OnlineSession;
  /** The step. */
  step: ColumnsStep;
  /** The session's DataSource. */
  dataSource: DataSource;
  /** The session's SQL family. */
  dialect: Dialect;
  /** `name` quoted as an identifier of the database. */
  quote: (name: string) => string;
  /** The user table, quoted (with its schema). */
  table: string;
  /** The token column, quoted. */
  token: string;
  /** The SQL expression of a random token on this database. */
  random: string;
  /** The SQLite insert trigger that gives new rows their token, quoted. */
  trigger: string;
  /** Whether the token column stays nullable at the step's version (otherwise it ends NOT NULL). */
  tokenStaysNullable: boolean;
  /**
   * MariaDB/MySQL, a token that ends NOT NULL (V2): the column is added NOT NULL at once, with the constant
   * default '' for the rows already there (ALGORITHM=INSTANT: existing rows read it from the table's
   * metadata), then the random default for new rows. Added nullable instead, it would need a table rebuild
   * to become NOT NULL, and a rebuild's commit holds an exclusive lock that stops sign-ins for a time that
   * grows with the table (measured: about 0.25 s at 200,000 users, 1 s at a million). '' marks the rows
   * the backfill has not reached.
   */
  tokenPlaceholder: string | null;
  /** Users without a token. */
  withoutToken: string;
  /** MariaDB: the nullable twins its NOT NULL columns become nullable through (`twins.ts`), or null (a rebuild, or none). */
  twins: Twins | null;
  /** The rows the backfill has left: without a token, or (while the twins are there) with a twin behind its column. */
  backfillPredicate: () => Promise<string>;
  /** The column's definition, nullable. */
  nullableDefinition: (column: ColumnMetadata) => string;
  /** The live table, read fresh (the query runner caches definitions). */
  liveTable: () => Promise<Table>;
  /** Whether every column the step makes nullable is nullable in the live table (MariaDB: swapped or rebuilt). */
  nullableNow: () => Promise<boolean>;
  /** Whether every column the step adds is in the live table. */
  hasNewColumns: () => Promise<boolean>;
  /** Whether the step's shipped migration is recorded as applied. */
  isRecorded: () => Promise<boolean>;
  /** MariaDB/MySQL: the token column's random default, or null when it has none (yet, or any more). */
  mysqlTokenDefault: () => Promise<string | null>;
  /** MariaDB: how big InnoDB's redo log is (`redo-log.ts`), or null. */
  redoLog: RedoLogSize | null;
}

/** How a phase of a step that changes the user table is built: from the step's context and the upgrade's settings. */
export type ColumnsPhase = (context: ColumnsStepContext, options: Settings) => Phase;

/** The context of `step` on the session's database (asks the database how it makes a random token). */
export async function columnsStepContext(session: OnlineSession, step: ColumnsStep): Promise<ColumnsStepContext> {
  const { dataSource, dialect } = session;
  const quote = (name: string) => dataSource.driver.escape(name);
  const table = quotedTable(dataSource, step.user);
  const token = quote(step.token.databaseName);
  const random = await randomTokenSql(session.runner, dialect);
  const tokenStaysNullable = step.token.isNullable;
  const tokenPlaceholder = dialect === "mysql" && !tokenStaysNullable ? "''" : null;
  const liveTable = async () => (await session.runner.getTable(step.user.tablePath))!;
  const twins = await twinsOf(session, step);
  const withoutToken = tokenPlaceholder ? `${token} = ${tokenPlaceholder}` : `${token} IS NULL`;
  const redoLog = await redoLogSize(session);
  return {
    session,
    step,
    dataSource,
    dialect,
    quote,
    table,
    token,
    random,
    trigger: quote(temporaryName("fill", step.token)),
    tokenStaysNullable,
    tokenPlaceholder,
    withoutToken,
    twins,
    backfillPredicate: async () =>
      twins && (await twinsPresent(twins, session, step.user.tableName)).columns
        ? `(${withoutToken} OR ${twinsBehind(twins, quote)})`
        : withoutToken,
    nullableDefinition: (column) => columnDefinition(dataSource, column).replace(/ (NOT )?NULL$/, " NULL"),
    liveTable,
    nullableNow: async () => {
      const t = await liveTable();
      return step.nullable.every((c) => t.findColumnByName(c.databaseName)!.isNullable);
    },
    hasNewColumns: async () => {
      const t = await liveTable();
      return step.columns.every((c) => t.findColumnByName(c.databaseName));
    },
    isRecorded: () => migrationRecorded(session, step.migration),
    mysqlTokenDefault: async () => {
      const [row] = await session.query(
        `SELECT COLUMN_DEFAULT AS d FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?`,
        [step.user.tableName, step.token.databaseName],
      );
      // MariaDB reports a nullable column without a default as the text 'NULL'; the placeholder is no random default either.
      return row?.d === undefined || row.d === null || row.d === "NULL" || row.d === tokenPlaceholder ? null : String(row.d);
    },
    redoLog,
  };
}
