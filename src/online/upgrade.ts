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
 *
 * This file is the public API and the runner; each phase is built in `phases/` (a file per phase).
 */
import type { DataSource } from "typeorm";
import { appSecurityTables } from "../schema";
import { UserBase } from "../user/base";
import { SCHEMA_VERSIONS, type SchemaVersion } from "../versions";
import { dialectOf } from "../database/dialect";
import { OnlineSession, OnlineUpgradeError, poolSizeOf } from "./session";
import { onlineVersions, upgradeStep, type UpgradeStep } from "./steps";
import { missingTables, recordedMigrations, stepPhases, type Phase } from "./phases";

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
   * and will be tried again; `wait` when the backfill waits for lagging replicas or, on MariaDB, for room in
   * InnoDB's redo log (when it begins, then every 5 s).
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
   * Connections that backfill side by side, each its own slice of the users (default 1; SQLite always 1). A
   * backfill batch keeps one server core busy: on a server with cores to spare, more finish sooner
   * (bench/RESULTS.md: two on a two-core machine, 1.5 times the rows per second).
   */
  workers?: number;
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

/** The most backfill workers an upgrade takes (the command line checks the same bound). */
export const MAX_WORKERS = 64;

const DEFAULTS = { batchMs: 50, pauseMs: 0, workers: 1, lockTimeoutMs: 50, attempts: 200, lockWaitMs: 120_000, maxReplicaLagMs: 1000 };

/** The schema version of the DataSource's User entity: the newest whose user mixin it extends. */
function entityVersion(dataSource: DataSource): SchemaVersion {
  const user = dataSource.entityMetadatas.find(
    (m) => typeof m.target === "function" && m.target.prototype instanceof UserBase && !m.isJunction,
  );
  const target = user?.target as Function | undefined;
  const row = [...SCHEMA_VERSIONS].reverse().find((version) => target?.prototype instanceof version.user);
  return row?.version ?? 1;
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
    const rows = phase.rows && !done ? await phase.rows() : undefined;
    phases.push({
      migration: phase.migration,
      phase: phase.phase,
      description: phase.description + (rows !== undefined && phase.advise ? phase.advise(rows) : ""),
      done,
      beforeDeploy: phase.beforeDeploy,
      statements: phase.statements,
      ...(rows !== undefined ? { rows } : {}),
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
export type Settings = ReturnType<typeof withDefaults>;

function withDefaults(options: OnlineUpgradeOptions, dataSource: DataSource) {
  const workers = options.workers ?? DEFAULTS.workers;
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS)
    throw new OnlineUpgradeError(
      "OnlineUpgradeOptions",
      "workers",
      "workers-range",
      `must be a whole number from 1 to ${MAX_WORKERS}; got ${String(workers)}. Nothing was changed.`,
    );
  // Each worker holds a connection of the pool for the whole backfill: more than the pool would wait forever.
  if (dialectOf(dataSource) !== "sqlite" && workers > poolSizeOf(dataSource))
    throw new OnlineUpgradeError(
      "OnlineUpgradeOptions",
      "workers",
      "workers-pool",
      `${workers} workers need as many connections at once, and this DataSource's pool opens at most ${poolSizeOf(dataSource)} (poolSize): ` +
        `ask for fewer workers or give the DataSource a larger poolSize. Nothing was changed.`,
    );
  return {
    batchMs: options.batchMs ?? DEFAULTS.batchMs,
    pauseMs: options.pauseMs ?? DEFAULTS.pauseMs,
    workers,
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
  const settings = withDefaults(options, dataSource);
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
  const settings = withDefaults(options, dataSource);
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
