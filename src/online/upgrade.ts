/**
 * Online upgrades: the shipped schema upgrades (V1 to V2, V2 to V3, V3 to V4) carried out while the app keeps
 * signing users in and up, on its old and its new version at once (a rolling deploy). A step that only adds
 * tables (V3 to V4) is `create` then `complete`; one that changes the user table is expand, backfill, contract:
 *
 * 1. `check`: the data the new schema forbids stops it before anything changes (as the offline migration);
 * 2. `expand`: the new columns, nullable, with a database default (PostgreSQL, MariaDB) or an insert trigger
 *    (SQLite) that gives every new row a random token, so users the old app version creates get one too;
 *    columns that become nullable; new tables. Metadata-only statements, each waiting at most
 *    `lockTimeoutMs` for its lock;
 * 3. `backfill`: existing users get their random token in batches of about `batchMs`, each batch its own
 *    short transaction;
 * 4. `indexes`: the unique indexes, built without blocking writes (PostgreSQL `CREATE INDEX CONCURRENTLY`,
 *    MariaDB `ALGORITHM=INPLACE, LOCK=NONE`; SQLite: one short transaction per index);
 * 5. `not-null` (PostgreSQL): NOT NULL through a `CHECK … NOT VALID` constraint validated without blocking
 *    writes, so SET NOT NULL need not scan the table;
 *    — here both app versions work: deploy the new one, then —
 * 6. `complete`: the temporary default or trigger removed (SQLite: NOT NULL set), and the shipped migration
 *    recorded as applied, which leaves exactly the schema the offline migration leaves.
 *
 * Every phase looks at the database first and does only what is missing, so a run killed at any point is
 * finished by running it again.
 */
import type { DataSource, EntityMetadata } from "typeorm";
import type { ColumnMetadata } from "typeorm/metadata/ColumnMetadata";
import type { IndexMetadata } from "typeorm/metadata/IndexMetadata";
import { isDuplicateKey } from "../datastore/database-errors";
import {
  caseFolded,
  columnDefinition,
  createCheckedTables,
  explainDuplicates,
  madeByThisPackage,
  newIndexName,
  randomTokenSql,
  refuseCaseDuplicates,
  rewriteSqliteTable,
  setSqliteNotNull,
} from "../schema/operations";
import { quotedInSchema, quotedTable } from "../database/quoting";
import { appSecurityTables } from "../schema";
import { UserBase } from "../user/base";
import { SCHEMA_VERSIONS, type SchemaVersion } from "../versions";
import { MigrationBlockedError } from "../errors";
import { OnlineSession, OnlineUpgradeError } from "./session";
import { ReplicaLagGuard } from "./replica-lag";
import { onlineVersions, upgradeStep, type ColumnsStep, type TablesStep, type UpgradeStep } from "./steps";

/** The phases of one online upgrade step, in order. */
export type OnlinePhaseName = "check" | "expand" | "backfill" | "indexes" | "not-null" | "create" | "complete";

/** What an online upgrade reports while it runs. */
export interface OnlineUpgradeProgress {
  /** The shipped migration the step stands in for. */
  migration: string;
  /** The phase. */
  phase: OnlinePhaseName;
  /**
   * `start` and `done` of a phase; `progress` after each backfill batch; `retry` when a statement met a lock
   * and will be tried again; `wait` when the backfill waits for lagging replicas (when it begins, then every 5 s).
   */
  event: "start" | "progress" | "retry" | "wait" | "done";
  /** One line for people. */
  message: string;
  /** Backfill: users given their token so far in this run. */
  rowsDone?: number;
  /** Backfill: users without a token when this run's backfill began. */
  rowsTotal?: number;
  /** Backfill: users per second so far. */
  rowsPerSecond?: number;
  /** Backfill: seconds left at that rate. */
  secondsLeft?: number;
  /** `wait`: how far the slowest replica is behind the backfill, in ms. */
  replicaLagMs?: number;
}

/** How an online upgrade runs. */
export interface OnlineUpgradeOptions {
  /**
   * Also run the `complete` phase of every step. Without it the upgrade stops where the old and the new app
   * version both work; deploy the new version everywhere, then run it again with `complete: true`.
   */
  complete?: boolean;
  /** Target duration of one backfill batch in ms (default 50): the longest a user's row waits for it. */
  batchMs?: number;
  /** Pause between backfill batches in ms (default 0), for replicas and the app to keep up. */
  pauseMs?: number;
  /**
   * How long a DDL statement may wait for its table lock before it gives up and is tried again (default
   * 50 ms on PostgreSQL; MariaDB/MySQL count whole seconds, so at least 1 s there).
   */
  lockTimeoutMs?: number;
  /**
   * The most the backfill lets replicas fall behind its writes, in ms (default 1000), watched whenever the
   * database shows replicas: PostgreSQL standbys in `pg_stat_replication` (the upgrade's role needs
   * `pg_monitor` to see their positions), MariaDB Galera's flow control. Before each batch the backfill waits
   * while they are further behind. `false`: never wait for them.
   */
  maxReplicaLagMs?: number | false;
  /** How many times a statement refused for a lock or conflict is tried (default 200). */
  attempts?: number;
  /** How long to wait for another run (or a killed run's last statement) to release the database (default 120,000 ms). */
  lockWaitMs?: number;
  /** Called with every progress event; the upgrade waits for a returned promise. */
  onProgress?: (progress: OnlineUpgradeProgress) => void | Promise<void>;
}

/** One phase of the plan. */
export interface OnlinePhasePlan {
  /** The shipped migration of the step. */
  migration: string;
  /** The phase. */
  phase: OnlinePhaseName;
  /** What it does. */
  description: string;
  /** Whether the database already shows it done. */
  done: boolean;
  /** Whether it runs before the new app version can be deployed (`true`) or after (`complete`: `false`). */
  beforeDeploy: boolean;
  /** The statements it would send (a backfill batch once, with `?` for its id range). */
  statements: string[];
  /** Backfill: users still without a token. */
  rows?: number;
}

/** What an online upgrade would do, or did. */
export interface OnlineUpgradePlan {
  /** The schema version the database is at (the last shipped migration recorded). */
  fromVersion: number;
  /** The version of the DataSource's User entity, which the upgrade reaches. */
  toVersion: number;
  /** Every phase of every step, in the order they run. */
  phases: OnlinePhasePlan[];
  /** Whether only `complete` phases are left: the new app version can be deployed. */
  readyForNewVersion: boolean;
  /** Whether nothing is left to do. */
  done: boolean;
}

export { OnlineUpgradeError };

interface Phase extends Omit<OnlinePhasePlan, "done" | "rows"> {
  isDone(): Promise<boolean>;
  rows?(): Promise<number>;
  run(report: (progress: Omit<OnlineUpgradeProgress, "migration" | "phase">) => Promise<void>): Promise<void>;
}

const DEFAULTS = { batchMs: 50, pauseMs: 0, lockTimeoutMs: 50, attempts: 200, lockWaitMs: 120_000, maxReplicaLagMs: 1000 };

/** The schema version of the DataSource's User entity: the newest whose user mixin it extends. */
function entityVersion(dataSource: DataSource): SchemaVersion {
  const user = dataSource.entityMetadatas.find(
    (m) => typeof m.target === "function" && m.target.prototype instanceof UserBase && !m.isJunction,
  );
  const target = user?.target as Function | undefined;
  const row = [...SCHEMA_VERSIONS].reverse().find((version) => target?.prototype instanceof version.user);
  return row?.version ?? 1;
}

function migrationsTable(dataSource: DataSource): string {
  return (dataSource.options as { migrationsTableName?: string }).migrationsTableName ?? "migrations";
}

async function recordedMigrations(session: OnlineSession): Promise<string[]> {
  const table = migrationsTable(session.dataSource);
  if (!(await session.runner.hasTable(table))) return [];
  const rows: Array<{ name: string }> = await session.query(`SELECT name FROM ${session.dataSource.driver.escape(table)}`);
  return rows.map((r) => r.name);
}

/** The steps between the recorded version and the entity's, with their phases. */
async function buildPlan(session: OnlineSession, options: Settings) {
  const { dataSource } = session;
  appSecurityTables(dataSource); // names the missing or ambiguous entity, if any
  const recorded = await recordedMigrations(session);
  const toVersion = entityVersion(dataSource);
  const steps: UpgradeStep[] = [];
  for (const version of onlineVersions()) if (version <= toVersion) steps.push(await upgradeStep(dataSource, version));
  if (!recorded.includes("SecurityV1CreateTables1795737600000")) {
    throw new OnlineUpgradeError(
      "DataSource",
      "migrations",
      "not-at-a-shipped-version",
      `the database has no recorded shipped migration (SecurityV1CreateTables1795737600000): create the tables with the shipped migrations ` +
        `(migration:run) or adopt a Flask-Security database first. Nothing was changed.`,
    );
  }
  const pending = steps.filter((step) => !recorded.includes(step.migration));
  // A table a step would create that something else made stops the whole upgrade before its first change.
  for (const step of pending) await missingTables(session, step.tables);
  const fromVersion = Math.max(1, ...steps.filter((step) => recorded.includes(step.migration)).map((step) => step.version));
  const phases: Phase[] = [];
  const startPhases = await Promise.all(pending.map((step) => stepPhases(session, step, options)));
  for (const stepPhase of startPhases) phases.push(...stepPhase.filter((p) => p.beforeDeploy));
  for (const stepPhase of startPhases) phases.push(...stepPhase.filter((p) => !p.beforeDeploy));
  return { fromVersion, toVersion, phases };
}

async function toPlan(built: Awaited<ReturnType<typeof buildPlan>>): Promise<OnlineUpgradePlan> {
  const phases: OnlinePhasePlan[] = [];
  for (const phase of built.phases) {
    const done = await phase.isDone();
    phases.push({
      migration: phase.migration,
      phase: phase.phase,
      description: phase.description,
      done,
      beforeDeploy: phase.beforeDeploy,
      statements: phase.statements,
      ...(phase.rows && !done ? { rows: await phase.rows() } : {}),
    });
  }
  return {
    fromVersion: built.fromVersion,
    toVersion: built.toVersion,
    phases,
    readyForNewVersion: phases.every((p) => p.done || !p.beforeDeploy),
    done: phases.every((p) => p.done),
  };
}

/** The options with their defaults, as the phases use them. */
type Settings = ReturnType<typeof withDefaults>;

function withDefaults(options: OnlineUpgradeOptions) {
  return {
    batchMs: options.batchMs ?? DEFAULTS.batchMs,
    pauseMs: options.pauseMs ?? DEFAULTS.pauseMs,
    lockTimeoutMs: options.lockTimeoutMs ?? DEFAULTS.lockTimeoutMs,
    attempts: options.attempts ?? DEFAULTS.attempts,
    lockWaitMs: options.lockWaitMs ?? DEFAULTS.lockWaitMs,
    maxReplicaLagMs: options.maxReplicaLagMs ?? DEFAULTS.maxReplicaLagMs,
    replicaLagExplicit: options.maxReplicaLagMs !== undefined,
  };
}

/**
 * What `upgradeOnline` would do on this database (every phase, whether it is done, its statements), changing
 * nothing: the dry run.
 */
export async function planOnlineUpgrade(dataSource: DataSource, options: OnlineUpgradeOptions = {}): Promise<OnlineUpgradePlan> {
  const settings = withDefaults(options);
  const session = await OnlineSession.open(dataSource, settings);
  try {
    return await toPlan(await buildPlan(session, settings));
  } finally {
    await session.close();
  }
}

/**
 * Upgrades the database online to the schema version of the DataSource's User entity (the new app
 * version's DataSource), running the phases not yet done. Without `complete` it stops where both app
 * versions work; with it, it also completes and records the shipped migrations, after which
 * `migration:run` has nothing to do and `migration:revert` works as after the offline path. Resumable: run
 * it again after any failure or kill. Returns the plan as it stands afterwards.
 * @throws MigrationBlockedError (nothing changed) when existing rows break the new schema's rules.
 * @throws OnlineUpgradeBusyError when another run holds the database for longer than `lockWaitMs`.
 */
export async function upgradeOnline(dataSource: DataSource, options: OnlineUpgradeOptions = {}): Promise<OnlineUpgradePlan> {
  const settings = withDefaults(options);
  let current: { migration: string; phase: OnlinePhaseName } = { migration: "", phase: "check" };
  const emit = async (progress: Omit<OnlineUpgradeProgress, "migration" | "phase">) => options.onProgress?.({ ...current, ...progress });
  const session = await OnlineSession.open(dataSource, {
    ...settings,
    onRetry: (what, attempt) => emit({ event: "retry", message: `${what}: lock not free, trying again (attempt ${attempt + 1})` }),
  });
  try {
    await session.lock();
    const built = await buildPlan(session, settings);
    for (const phase of built.phases) {
      if (!phase.beforeDeploy && !options.complete) break;
      current = { migration: phase.migration, phase: phase.phase };
      if (await phase.isDone()) continue;
      await emit({ event: "start", message: phase.description });
      await phase.run(emit);
      await emit({ event: "done", message: `${phase.phase} done` });
    }
    return await toPlan(built);
  } finally {
    await session.close();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The name of the temporary objects of an online upgrade (SQLite trigger, PostgreSQL check constraint). */
function temporaryName(kind: "fill" | "not_null", column: ColumnMetadata): string {
  return `tsm_online_${kind}_${column.databaseName}`.slice(0, 63);
}

/** The phases of one step, for its kind and dialect. */
function stepPhases(session: OnlineSession, step: UpgradeStep, options: Settings): Promise<Phase[]> {
  return step.kind === "tables" ? tableStepPhases(session, step) : columnStepPhases(session, step, options);
}

/**
 * The tables of a step not in the database yet. One that is there but was not made by this package (by
 * Flask-Security, synchronize or anything else) stops the step, changing nothing, as the offline migration
 * stops: recorded as applied, it would leave a schema the migration never made.
 */
async function missingTables(session: OnlineSession, tables: EntityMetadata[]): Promise<EntityMetadata[]> {
  const missing: EntityMetadata[] = [];
  for (const metadata of tables) {
    const existing = await session.runner.getTable(metadata.tablePath);
    if (!existing) missing.push(metadata);
    else if (!madeByThisPackage(existing, metadata))
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
async function createMissingTables(session: OnlineSession, tables: EntityMetadata[]): Promise<void> {
  const missing = await missingTables(session, tables);
  if (missing.length === 0) return;
  if (session.dialect === "mysql")
    return session.retry(`create ${missing.map((m) => m.tableName).join(", ")}`, () => createCheckedTables(session.runner, missing));
  await createCheckedTables(session.runner, missing);
}

/** The statements that create `tables`, as the query runner would send them (for the plan). */
async function createTableStatements(session: OnlineSession, tables: EntityMetadata[]): Promise<string[]> {
  const { runner } = session;
  runner.enableSqlMemory();
  try {
    await createCheckedTables(runner, tables);
    return runner.getMemorySql().upQueries.map((query) => query.query);
  } finally {
    runner.disableSqlMemory();
  }
}

/** The INSERT that records `migration` as applied, as TypeORM records it. */
function recordStatement(dataSource: DataSource, migration: string): string {
  const q = (name: string) => dataSource.driver.escape(name);
  const timestamp = Number(/(\d{13})$/.exec(migration)![1]);
  return `INSERT INTO ${q(migrationsTable(dataSource))} (${q("timestamp")}, ${q("name")}) VALUES (${timestamp}, '${migration}')`;
}

/**
 * The phases of a step that only creates tables (V3 to V4): `create`, one short statement per table whose
 * foreign key locks the user table for a moment (PostgreSQL SHARE ROW EXCLUSIVE, which blocks writes; MariaDB
 * a metadata lock), so it waits at most `lockTimeoutMs` for that lock and is tried again; then `complete`,
 * which records the shipped migration. Both app versions work after `create`: the old one never reads the
 * new tables.
 */
async function tableStepPhases(session: OnlineSession, step: TablesStep): Promise<Phase[]> {
  const { dataSource, dialect } = session;
  const base = { migration: step.migration };
  const names = step.tables.map((t) => t.tableName).join(", ");
  const isRecorded = async () => (await recordedMigrations(session)).includes(step.migration);
  const recordSql = recordStatement(dataSource, step.migration);
  const create: Phase = {
    ...base,
    phase: "create",
    beforeDeploy: true,
    description: `create ${names} with its indexes and its foreign key to ${step.user.tableName} (${
      dialect === "postgres"
        ? `the key's SHARE ROW EXCLUSIVE lock on ${step.user.tableName} pauses its writes for a moment; waits at most the lock timeout for it, then tries again`
        : dialect === "mysql"
          ? `a metadata lock on ${step.user.tableName} for a moment; waits at most the lock timeout for it, then tries again`
          : "one write transaction"
    })`,
    statements: await createTableStatements(session, step.tables),
    isDone: async () => (await isRecorded()) || (await missingTables(session, step.tables)).length === 0,
    run: async () => {
      if (dialect === "mysql") return createMissingTables(session, step.tables);
      await session.transaction(`create ${names}`, () => createMissingTables(session, step.tables));
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

/** The phases of a step that changes the user table, for its dialect. */
async function columnStepPhases(session: OnlineSession, step: ColumnsStep, options: Settings): Promise<Phase[]> {
  const { dataSource, dialect } = session;
  const q = (name: string) => dataSource.driver.escape(name);
  const table = quotedTable(dataSource, step.user);
  const token = q(step.token.databaseName);
  const random = await randomTokenSql(session.runner, dialect);
  const nullableDefinition = (column: ColumnMetadata) => columnDefinition(dataSource, column).replace(/ (NOT )?NULL$/, " NULL");
  const tokenStaysNullable = step.token.isNullable;
  /**
   * MariaDB/MySQL, a token that ends NOT NULL (V2): the column is added NOT NULL at once, with the constant
   * default '' for the rows already there (ALGORITHM=INSTANT: existing rows read it from the table's
   * metadata), then the random default for new rows. Added nullable instead, it would need a table rebuild
   * to become NOT NULL, and a rebuild's commit holds an exclusive lock that stops sign-ins for a time that
   * grows with the table (measured: about 0.25 s at 200,000 users, 1 s at a million). '' marks the rows
   * the backfill has not reached.
   */
  const tokenPlaceholder = dialect === "mysql" && !tokenStaysNullable ? "''" : null;
  const base = { migration: step.migration };

  /** The live table, read fresh (the query runner caches definitions). */
  const live = async () => (await session.runner.getTable(step.user.tablePath))!;
  const hasColumns = async () => {
    const t = await live();
    return step.columns.every((c) => t.findColumnByName(c.databaseName));
  };
  const isRecorded = async () => (await recordedMigrations(session)).includes(step.migration);

  // ---- Indexes -------------------------------------------------------------------------------------------
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
  const wantedIndexes = [
    ...(step.caseInsensitive && dialect !== "mysql" ? [step.caseInsensitive.index] : []),
    ...step.indexes.map((i) => i.name),
  ];
  /** Index name → valid (PostgreSQL: false for a build that was interrupted). */
  const liveIndexes = async (): Promise<Map<string, boolean>> => {
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
    const t = await live();
    return new Map(t.indices.map((i) => [i.name!, true]));
  };
  /** The rows that break a unique index, listed as the offline migration lists them (throws), after a failed build. */
  const explainIndexFailure = async (name: string) => {
    if (step.caseInsensitive && name === step.caseInsensitive.index) {
      await refuseCaseDuplicates(session.runner, step.user, step.caseInsensitive.column, step.caseInsensitive.why);
    }
    const index = step.indexes.find((i) => i.name === name);
    for (const column of index?.columns ?? []) await explainDuplicates(session.runner, step.user, column.databaseName, step.uniqueBecause);
  };

  // ---- Backfill -------------------------------------------------------------------------------------------
  /** Users without a token (every user while the column is not there yet). */
  const withoutToken = tokenPlaceholder ? `${token} = ${tokenPlaceholder}` : `${token} IS NULL`;
  const rowsLeft = async () =>
    Number((await session.query(`SELECT COUNT(*) AS n FROM ${table}${(await hasColumns()) ? ` WHERE ${withoutToken}` : ""}`))[0].n);
  const keepUpdateDatetime =
    dialect === "mysql" && step.user.updateDateColumn
      ? `, ${q(step.user.updateDateColumn.databaseName)} = ${q(step.user.updateDateColumn.databaseName)}`
      : "";
  const id = q("id");
  const placeholders = dialect === "postgres" ? ["$1", "$2"] : ["?", "?"];
  const batchSql = `UPDATE ${table} SET ${token} = ${random}${keepUpdateDatetime} WHERE ${id} >= ${placeholders[0]} AND ${id} < ${placeholders[1]} AND ${withoutToken}`;

  // ---- Statements of the expand phase, per dialect ----------------------------------------------------------
  const addColumns = step.columns.map(
    (c) =>
      `ADD COLUMN ${
        c !== step.token
          ? columnDefinition(dataSource, c)
          : tokenPlaceholder
            ? `${columnDefinition(dataSource, c)} DEFAULT ${tokenPlaceholder}`
            : nullableDefinition(c)
      }`,
  );
  const trigger = q(temporaryName("fill", step.token));
  const sqliteTrigger =
    `CREATE TRIGGER IF NOT EXISTS ${trigger} AFTER INSERT ON ${table} FOR EACH ROW WHEN NEW.${token} IS NULL ` +
    `BEGIN UPDATE ${table} SET ${token} = ${random} WHERE rowid = NEW.rowid; END`;
  const createTableStatements = step.tables.map((t) => `CREATE TABLE ${quotedTable(dataSource, t)} (…) with its indexes and foreign keys`);
  const expandStatements =
    dialect === "postgres"
      ? [
          `ALTER TABLE ${table} ${[...addColumns, ...step.nullable.map((c) => `ALTER COLUMN ${q(c.databaseName)} DROP NOT NULL`)].join(", ")}`,
          `ALTER TABLE ${table} ALTER COLUMN ${token} SET DEFAULT ${random}`,
          ...createTableStatements,
        ]
      : dialect === "mysql"
        ? [
            `ALTER TABLE ${table} ${addColumns.join(", ")}, ALGORITHM=INSTANT`,
            `ALTER TABLE ${table} ALTER COLUMN ${token} SET DEFAULT (${random}), ALGORITHM=INSTANT`,
            ...createTableStatements,
          ]
        : [
            ...addColumns.map((a) => `ALTER TABLE ${table} ${a}`),
            sqliteTrigger,
            ...step.nullable.map((c) => `(stored schema) ${columnDefinition(dataSource, c).replace(/ NULL$/, "")} NOT NULL → NULL`),
            ...createTableStatements,
          ];

  const mysqlDefault = async (): Promise<string | null> => {
    const [row] = await session.query(
      `SELECT COLUMN_DEFAULT AS d FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?`,
      [step.user.tableName, step.token.databaseName],
    );
    // MariaDB reports a nullable column without a default as the text 'NULL'; the placeholder is no random default either.
    return row?.d === undefined || row.d === null || row.d === "NULL" || row.d === tokenPlaceholder ? null : String(row.d);
  };

  const expand: Phase = {
    ...base,
    phase: "expand",
    beforeDeploy: true,
    description: `add ${step.columns.map((c) => c.databaseName).join(", ")} (${
      tokenPlaceholder ? `nullable, ${step.token.databaseName} NOT NULL with '' for the users already there` : "nullable"
    }, metadata only) with a random ${step.token.databaseName} for every new row${
      step.nullable.length ? `; make ${step.nullable.map((c) => c.databaseName).join(", ")} nullable` : ""
    }${step.tables.length ? `; create ${step.tables.map((t) => t.tableName).join(", ")}` : ""}`,
    statements: expandStatements,
    isDone: async () => {
      if (!(await hasColumns()) || (await missingTables(session, step.tables)).length > 0) return false;
      if (dialect === "sqlite") return true; // one transaction
      // A complete phase killed between dropping the default and recording the step comes back here: the
      // default is set again, and dropped again by complete.
      if (dialect === "mysql") return (await isRecorded()) || (await mysqlDefault()) !== null;
      return true; // one transaction
    },
    run: async () => {
      if (dialect === "postgres") {
        await session.transaction(`expand ${step.user.tableName}`, async () => {
          if (!(await hasColumns())) {
            await session.query(expandStatements[0]);
            await session.query(expandStatements[1]);
          }
          await createMissingTables(session, step.tables);
        });
      } else if (dialect === "sqlite") {
        await session.transaction(`expand ${step.user.tableName}`, async () => {
          if (!(await hasColumns())) {
            for (const add of addColumns) await session.query(`ALTER TABLE ${table} ${add}`);
            await session.query(sqliteTrigger);
            for (const column of step.nullable) await setSqliteNotNull(session.runner, step.user, column, false);
          }
          await createMissingTables(session, step.tables);
        });
      } else {
        const t = await live();
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
          await session.ddl(`add columns to ${step.user.tableName}`, expandStatements[0]);
        }
        if ((await mysqlDefault()) === null) await session.ddl(`default of ${step.token.databaseName}`, expandStatements[1]);
        await createMissingTables(session, step.tables);
      }
    },
  };

  const backfill: Phase = {
    ...base,
    phase: "backfill",
    beforeDeploy: true,
    description: `give every existing user a distinct random ${step.token.databaseName}, in batches of about ${options.batchMs} ms, each its own transaction`,
    statements: [batchSql],
    rows: rowsLeft,
    isDone: async () => (await hasColumns()) && (await rowsLeft()) === 0,
    run: async (report) => {
      const total = await rowsLeft();
      if (total === 0) return;
      // Rows inserted from now on get their token from the default (or trigger): only ids up to here need it.
      const [{ low, high }] = await session.query(`SELECT MIN(${id}) AS low, MAX(${id}) AS high FROM ${table} WHERE ${withoutToken}`);
      let from = Number(low);
      const last = Number(high);
      let size = 500;
      let done = 0;
      const started = Date.now();
      const replicas = await ReplicaLagGuard.open(session, options.maxReplicaLagMs, options.replicaLagExplicit, (message) =>
        report({ event: "wait", message }),
      );
      while (from <= last) {
        await replicas?.waitForReplicas((lag, waited) =>
          report({
            event: "wait",
            message: `waiting for ${lag.watching}: ${Math.round(lag.lagMs)} ms behind the backfill (more than ${options.maxReplicaLagMs} ms), waited ${Math.round(waited / 1000)} s`,
            replicaLagMs: Math.round(lag.lagMs),
          }),
        );
        const to = Math.min(from + size, last + 1);
        const batchStarted = Date.now();
        const changed = await session.transaction(`backfill ${step.token.databaseName}`, async () => {
          const result = await session.runner.query(batchSql, [from, to], true);
          return Number(result.affected ?? 0);
        });
        const took = Math.max(1, Date.now() - batchStarted);
        await replicas?.committed();
        done += changed;
        from = to;
        // The next batch sized to take about batchMs, growing or shrinking at most fourfold at a time.
        size = Math.max(50, Math.min(100_000, Math.round(size * Math.min(4, Math.max(0.25, options.batchMs / took)))));
        const seconds = Math.max(0.001, (Date.now() - started) / 1000);
        const rate = done / seconds;
        await report({
          event: "progress",
          message: `${done} of ${total} users`,
          rowsDone: Math.min(done, total),
          rowsTotal: total,
          rowsPerSecond: Math.round(rate),
          secondsLeft: rate > 0 ? Math.max(0, (total - done) / rate) : undefined,
        });
        if (options.pauseMs > 0) await sleep(options.pauseMs);
      }
    },
  };

  const indexStatements =
    dialect === "postgres"
      ? [...caseSql("CONCURRENTLY "), ...step.indexes.map((i) => indexSql(i, "CONCURRENTLY "))]
      : dialect === "mysql"
        ? [
            // Without a column to make nullable, INPLACE builds the secondary indexes without rebuilding the table
            // (MariaDB's NOCOPY would say so, but MySQL does not know it).
            `ALTER TABLE ${table} ${[
              ...step.nullable.map((c) => `MODIFY COLUMN ${columnDefinition(dataSource, c)}`),
              ...step.indexes.map((i) => `ADD UNIQUE INDEX ${q(i.name)} (${i.columns.map((c) => q(c.databaseName)).join(", ")})`),
            ].join(", ")}, ALGORITHM=INPLACE, LOCK=NONE`,
          ]
        : [...caseSql(), ...step.indexes.map((i) => indexSql(i))];
  const indexes: Phase = {
    ...base,
    phase: "indexes",
    beforeDeploy: true,
    description:
      dialect === "mysql"
        ? `build the unique indexes ${step.indexes.map((i) => i.name).join(", ")}${
            step.nullable.length
              ? `, make ${step.nullable.map((c) => c.databaseName).join(", ")} nullable in one ALTER … ALGORITHM=INPLACE, LOCK=NONE (a table rebuild; reads and writes go on, but its commit stops them for a moment that grows with the table)`
              : ` in one ALTER … ALGORITHM=INPLACE, LOCK=NONE (no table rebuild; reads and writes go on)`
          }`
        : dialect === "postgres"
          ? `build the unique indexes ${wantedIndexes.join(", ")} with CREATE INDEX CONCURRENTLY (reads and writes go on)`
          : `build the unique indexes ${wantedIndexes.join(", ")}, each in one write transaction`,
    statements: indexStatements,
    isDone: async () => {
      const present = await liveIndexes();
      if (!wantedIndexes.every((name) => present.get(name) === true)) return false;
      if (dialect !== "mysql") return true;
      const t = await live();
      return step.nullable.every((c) => t.findColumnByName(c.databaseName)!.isNullable);
    },
    run: async () => {
      if (dialect === "mysql") {
        try {
          await session.ddl(`indexes of ${step.user.tableName}`, indexStatements[0]);
        } catch (error) {
          if (isDuplicateKey(error)) for (const index of step.indexes) await explainIndexFailure(index.name);
          throw error;
        }
        return;
      }
      const present = await liveIndexes();
      const statements = indexStatements;
      for (const [i, name] of wantedIndexes.entries()) {
        if (present.get(name) === true) continue;
        try {
          if (dialect === "postgres") {
            // An interrupted CONCURRENTLY build leaves an invalid index behind: drop it, then build again.
            if (present.has(name))
              await session.ddl(
                `drop invalid ${name}`,
                `DROP INDEX CONCURRENTLY IF EXISTS ${quotedInSchema(dataSource, step.user, name)}`,
                false,
              );
            await session.ddl(`index ${name}`, statements[i], false);
          } else {
            await session.transaction(`index ${name}`, () =>
              session.query(statements[i].replace("CREATE UNIQUE INDEX", "CREATE UNIQUE INDEX IF NOT EXISTS")),
            );
          }
        } catch (error) {
          if (!isDuplicateKey(error)) throw error;
          if (dialect === "postgres")
            await session.ddl(
              `drop invalid ${name}`,
              `DROP INDEX CONCURRENTLY IF EXISTS ${quotedInSchema(dataSource, step.user, name)}`,
              false,
            );
          await explainIndexFailure(name);
          throw error;
        }
      }
    },
  };

  const check: Phase = {
    ...base,
    phase: "check",
    beforeDeploy: true,
    description: `refuse, changing nothing, when existing rows break the new unique rules (${[
      ...step.indexes.filter((i) => i.columns.every((c) => !step.columns.includes(c))).map((i) => i.columns[0].databaseName),
      ...(step.caseInsensitive ? [`${step.caseInsensitive.column} in any letter case`] : []),
    ].join(", ")})`,
    statements: [],
    isDone: async () => (await isRecorded()) || (await indexes.isDone()),
    run: async () => {
      if (step.caseInsensitive)
        await refuseCaseDuplicates(session.runner, step.user, step.caseInsensitive.column, step.caseInsensitive.why);
      for (const index of step.indexes) {
        if (index.columns.some((c) => step.columns.includes(c))) continue;
        for (const column of index.columns) await explainDuplicates(session.runner, step.user, column.databaseName, step.uniqueBecause);
      }
    },
  };

  const constraint = q(temporaryName("not_null", step.token));
  const notNullState = async () => {
    const [row] = await session.query(
      `SELECT a.attnotnull AS notnull, (SELECT c.convalidated FROM pg_constraint c WHERE c.conrelid = a.attrelid AND c.conname = $2) AS checked
         FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attname = $3`,
      [table, temporaryName("not_null", step.token), step.token.databaseName],
    );
    return { notNull: row?.notnull === true, check: row?.checked as boolean | null };
  };
  const notNull: Phase[] =
    dialect !== "postgres" || tokenStaysNullable
      ? []
      : [
          {
            ...base,
            phase: "not-null",
            beforeDeploy: true,
            description: `make ${step.token.databaseName} NOT NULL: a CHECK constraint added NOT VALID, validated while writes go on, then SET NOT NULL without a scan`,
            statements: [
              `ALTER TABLE ${table} ADD CONSTRAINT ${constraint} CHECK (${token} IS NOT NULL) NOT VALID`,
              `ALTER TABLE ${table} VALIDATE CONSTRAINT ${constraint}`,
              `ALTER TABLE ${table} ALTER COLUMN ${token} SET NOT NULL`,
              `ALTER TABLE ${table} DROP CONSTRAINT ${constraint}`,
            ],
            isDone: async () => {
              const state = await notNullState();
              return state.notNull && state.check === null;
            },
            run: async () => {
              let state = await notNullState();
              if (!state.notNull) {
                if (state.check === null)
                  await session.ddl(
                    `check constraint on ${step.token.databaseName}`,
                    `ALTER TABLE ${table} ADD CONSTRAINT ${constraint} CHECK (${token} IS NOT NULL) NOT VALID`,
                  );
                state = await notNullState();
                if (state.check === false)
                  await session.ddl(`validate ${step.token.databaseName}`, `ALTER TABLE ${table} VALIDATE CONSTRAINT ${constraint}`, false);
              }
              await session.transaction(`NOT NULL on ${step.token.databaseName}`, async () => {
                await session.query(`ALTER TABLE ${table} ALTER COLUMN ${token} SET NOT NULL`);
                await session.query(`ALTER TABLE ${table} DROP CONSTRAINT IF EXISTS ${constraint}`);
              });
            },
          },
        ];

  // ---- Complete ---------------------------------------------------------------------------------------------
  const recordSql = recordStatement(dataSource, step.migration);
  const completeStatements =
    dialect === "sqlite"
      ? [
          `DROP TRIGGER IF EXISTS ${trigger}`,
          ...(tokenStaysNullable ? [] : [`(stored schema) ${nullableDefinition(step.token)} → NOT NULL`]),
          recordSql,
        ]
      : [`ALTER TABLE ${table} ALTER COLUMN ${token} DROP DEFAULT${dialect === "mysql" ? ", ALGORITHM=INSTANT" : ""}`, recordSql];
  const complete: Phase = {
    ...base,
    phase: "complete",
    beforeDeploy: false,
    description: `remove the temporary ${dialect === "sqlite" ? "trigger" : "default"} of ${step.token.databaseName}${
      dialect === "sqlite" && !tokenStaysNullable ? ", make it NOT NULL" : ""
    } and record ${step.migration} as applied (from here on, the old app version cannot ${tokenStaysNullable ? "give its new users a " + step.token.databaseName : "sign users up"})`,
    statements: completeStatements,
    isDone: isRecorded,
    run: async () => {
      if (dialect === "sqlite") {
        await session.transaction(`complete ${step.migration}`, async () => {
          await session.query(completeStatements[0]);
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
          await session.query(completeStatements[0]);
          await session.query(recordSql);
        });
      } else {
        if ((await mysqlDefault()) !== null) await session.ddl(`drop the default of ${step.token.databaseName}`, completeStatements[0]);
        await session.query(recordSql);
      }
    },
  };

  return [check, expand, backfill, indexes, ...notNull, complete];
}
