/**
 * The connection an online upgrade works through, and the guards around every statement it sends: DDL that
 * needs an exclusive lock waits at most `lockTimeoutMs` (so sign-ins never queue behind it for longer) and
 * is tried again after a short random pause; data changes run in short transactions of their own; one
 * upgrade at a time per database (an advisory lock that dies with the session, so a killed run frees it).
 */
import type { DataSource, QueryRunner } from "typeorm";
import { isRetryable } from "../datastore/database-errors";
import { oneAtATimeOnSqlite } from "../datastore/sqlite-queue";
import { SecurityModelError } from "../errors";
import { dialectOf, type Dialect } from "../database/dialect";

/** The database cannot be upgraded online as asked (not at a shipped version, the entity is older, replicas that cannot be watched); nothing was changed. */
export class OnlineUpgradeError extends SecurityModelError {}

/** Another online upgrade of the same database holds its lock (or a killed run's statement still finishes on the server). */
export class OnlineUpgradeBusyError extends SecurityModelError {}

/** How an online upgrade treats locks and conflicts. */
export interface SessionGuards {
  /** How long one DDL statement may wait for its lock before it gives up and is tried again (ms). */
  lockTimeoutMs: number;
  /** How many times a statement refused for a lock or a conflict is tried before the upgrade stops. */
  attempts: number;
  /** How long to wait for another run's lock on the database (ms). */
  lockWaitMs: number;
  /** Called when a statement is tried again, with the attempt number. */
  onRetry?: (what: string, attempt: number) => void | Promise<void>;
}

/**
 * PostgreSQL: compresses the full-page images this session writes to the WAL (its backfill and index builds),
 * trying lz4, then pglz. Most of an upgrade's WAL is full-page images; compressed, there are fewer bytes for
 * the disk, the checkpoints they force and the replicas (bench/RESULTS.md: the backfills ran faster; the
 * sign-ins' waits did not fall). The setting is per session, so the app's own writes are untouched; without
 * the right to set it, the upgrade goes on as before.
 */
async function compressOwnWal(runner: QueryRunner): Promise<string | null> {
  for (const method of ["lz4", "pglz"]) {
    try {
      await runner.query(`SET wal_compression = '${method}'`);
      return method;
    } catch {
      // lz4 not built into this server, or no right to set the parameter: try the next, or go on without.
    }
  }
  return null;
}

/**
 * PostgreSQL: has the kernel write out the pages this session dirties as soon as it hands them over (every
 * 256 kB), instead of keeping them in its page cache. A backfill dirties far more pages than shared buffers
 * hold; left to the kernel, gigabytes of them pile up and go out all at once (its background writeback, a
 * checkpoint's fsync), and every sign-in's commit then waits for its WAL flush behind them. Any role may set
 * it, per session. Measured at a million users, V1 to V2 (bench/RESULTS.md): sign-in worst / p99 wait
 * 125 / 40 ms without it, 49 / 12 and 86 / 12 ms with it, the upgrade as fast.
 */
async function flushOwnWritesEarly(runner: QueryRunner): Promise<boolean> {
  try {
    await runner.query(`SET backend_flush_after = '256kB'`);
    return true;
  } catch {
    return false; // a platform without the kernel's sync_file_range: only 0 is allowed, and the upgrade goes on without it
  }
}

/**
 * PostgreSQL: keeps this session's scans and index builds in its own server process, without parallel
 * workers. By default a CREATE INDEX on a table of a million users takes two more processes, and so does the
 * duplicate check's scan: on a server with as many cores as processes, the app's sign-ins then wait for a core
 * (bench/RESULTS.md). One process leaves the others to the app; the build takes a little longer. Any role may
 * set both, per session.
 */
async function stayInOneProcess(runner: QueryRunner): Promise<void> {
  await runner.query(`SET max_parallel_maintenance_workers = 0`);
  await runner.query(`SET max_parallel_workers_per_gather = 0`);
}

/** How many connections the DataSource's pool opens at most (TypeORM's `poolSize`, else the driver's own option, else its default of 10). */
export function poolSizeOf(dataSource: DataSource): number {
  const options = dataSource.options as { poolSize?: number; extra?: { max?: number; connectionLimit?: number } };
  return options.poolSize ?? options.extra?.max ?? options.extra?.connectionLimit ?? 10;
}

/**
 * PostgreSQL: refuses a DataSource that reaches the server through a pooler in transaction mode (PgBouncer's
 * `pool_mode = transaction`), before the session sets or locks anything. Such a pooler hands the server
 * session to whichever client runs the next transaction, so the upgrade's lock would not keep a second run
 * out, and its `lock_timeout` and write settings would land on the app's transactions. Two client connections
 * of the pool open at once are two server sessions when connected directly; through such a pooler, the second
 * gets the server session the first just let go (PgBouncer reuses the most recent one). A pool of one cannot
 * open a second connection while the session holds the first, so it is not probed.
 */
async function refuseTransactionPooler(dataSource: DataSource, runner: QueryRunner): Promise<void> {
  if (poolSizeOf(dataSource) < 2) return;
  const pid = async (on: QueryRunner) => Number((await on.query(`SELECT pg_backend_pid() AS pid`))[0].pid);
  const other = dataSource.createQueryRunner();
  try {
    const ours = await pid(runner);
    const theirs = await pid(other);
    if (ours !== theirs) return;
    throw new OnlineUpgradeError(
      "DataSource",
      "(connection)",
      "transaction-pooler",
      `two connections of this DataSource were answered by the same PostgreSQL server process (${ours}): it goes through ` +
        `a pooler in transaction mode, such as PgBouncer with pool_mode = transaction, which hands a server session to ` +
        `another client between transactions. An online upgrade needs a session of its own (its lock keeps a second ` +
        `run out; its lock_timeout must not reach the app's transactions). Run it with a DataSource that connects to ` +
        `PostgreSQL itself (the server's host and port, not the pooler's); the app can stay on the pooler. Nothing was changed.`,
    );
  } finally {
    await other.release();
  }
}

/** PostgreSQL's advisory lock key of the online upgrade (advisory locks are per database). */
const PG_LOCK_KEY = 7_165_307_744_001;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class OnlineSession {
  readonly dialect: Dialect;
  private locked = false;
  /**
   * PostgreSQL: the `wal_compression` method this session's writes use, or `null` when the server would not
   * let the upgrade's role set it (it needs superuser, or `GRANT SET ON PARAMETER wal_compression`).
   */
  walCompression: string | null = null;
  /** PostgreSQL: whether the pages this session dirties are written out early (see `flushOwnWritesEarly`). */
  flushesEarly = false;
  /**
   * Tables this run has read whole and found made by this package (`missingTables`): later checks in the same
   * run, under its lock, only ask whether they are still there, which costs a query where reading a table's
   * columns, indexes and keys costs ten (about 10 ms each, most of a table-only step's time).
   */
  readonly tablesFoundOurs = new Set<string>();

  private constructor(
    readonly dataSource: DataSource,
    readonly runner: QueryRunner,
    readonly guards: SessionGuards,
  ) {
    this.dialect = dialectOf(dataSource);
  }

  /** A session on its own pooled connection (SQLite: the DataSource's one connection, shared in turns). */
  static async open(dataSource: DataSource, guards: SessionGuards): Promise<OnlineSession> {
    return OnlineSession.opened(dataSource, guards, true);
  }

  /**
   * Another session of the same DataSource for a backfill worker, with the same settings. Its connection is
   * not probed for a pooler: the lead's probe already answered for the DataSource, and the probe's second
   * connection would be one more than the pool may hold while every worker holds one (a pool exactly as large
   * as the workers waited forever).
   */
  static openWorker(lead: OnlineSession): Promise<OnlineSession> {
    return OnlineSession.opened(lead.dataSource, lead.guards, false);
  }

  private static async opened(dataSource: DataSource, guards: SessionGuards, probePooler: boolean): Promise<OnlineSession> {
    const session = new OnlineSession(dataSource, dataSource.createQueryRunner(), guards);
    if (session.dialect === "postgres") {
      if (probePooler)
        await refuseTransactionPooler(dataSource, session.runner).catch(async (error: unknown) => {
          await session.runner.release();
          throw error;
        });
      // PostgreSQL 14+: a statement of a client that died is cancelled within a second, so a killed run's
      // index build does not hold the lock for its whole duration (older servers: it finishes first).
      await session.runner.query(`SET client_connection_check_interval = 1000`).catch(() => undefined);
      await session.runner.query(`SET statement_timeout = 0`);
      session.walCompression = await compressOwnWal(session.runner);
      session.flushesEarly = await flushOwnWritesEarly(session.runner);
      await stayInOneProcess(session.runner);
    } else if (session.dialect === "mysql") {
      await session.runner.query(`SET SESSION lock_wait_timeout = ${session.lockWaitSeconds()}`);
      await session.runner.query(`SET SESSION innodb_lock_wait_timeout = ${session.lockWaitSeconds()}`);
    }
    return session;
  }

  /** MariaDB/MySQL take lock waits in whole seconds only. */
  private lockWaitSeconds(): number {
    return Math.max(1, Math.ceil(this.guards.lockTimeoutMs / 1000));
  }

  /** Takes the database's online-upgrade lock, waiting up to `lockWaitMs` for another run (or a killed run's session) to let go. */
  async lock(): Promise<void> {
    if (this.dialect === "sqlite") return; // every step is one atomic, idempotent write transaction there
    const started = Date.now();
    for (;;) {
      const [row] =
        this.dialect === "postgres"
          ? await this.runner.query(`SELECT pg_try_advisory_lock(${PG_LOCK_KEY}) AS got`)
          : await this.runner.query(`SELECT GET_LOCK(CONCAT('typeorm-security-models upgrade ', DATABASE()), 0) AS got`);
      if (row.got === true || Number(row.got) === 1) {
        this.locked = true;
        return;
      }
      if (Date.now() - started > this.guards.lockWaitMs) {
        throw new OnlineUpgradeBusyError(
          "DataSource",
          "(database)",
          "upgrade-running",
          `another online upgrade of this database holds its lock (or a killed run's last statement is still finishing on the server) ` +
            `after ${Math.round(this.guards.lockWaitMs / 1000)} s of waiting. Nothing was changed by this run; run it again when that one has ended.`,
        );
      }
      await sleep(200);
    }
  }

  /** Lets go of the lock and the connection. */
  async close(): Promise<void> {
    try {
      // The connection goes back to the app's pool: with the app's settings, not ours.
      if (this.dialect === "postgres") {
        if (this.locked) await this.runner.query(`SELECT pg_advisory_unlock(${PG_LOCK_KEY})`);
        await this.runner
          .query(
            `RESET lock_timeout; RESET statement_timeout; RESET client_connection_check_interval; RESET wal_compression; RESET backend_flush_after; ` +
              `RESET max_parallel_maintenance_workers; RESET max_parallel_workers_per_gather`,
          )
          .catch(() => undefined);
      } else if (this.dialect === "mysql") {
        if (this.locked) await this.runner.query(`SELECT RELEASE_LOCK(CONCAT('typeorm-security-models upgrade ', DATABASE()))`);
        await this.runner.query(`SET SESSION lock_wait_timeout = DEFAULT, innodb_lock_wait_timeout = DEFAULT`);
      }
    } finally {
      await this.runner.release();
    }
  }

  /** MariaDB/MySQL: the named global status counters the server shows, by name (a name it does not show is absent). */
  async globalStatus(names: readonly string[]): Promise<Record<string, string>> {
    const rows: Array<{ Variable_name: string; Value: string }> = await this.query(
      `SHOW GLOBAL STATUS WHERE Variable_name IN (${names.map((name) => `'${name}'`).join(", ")})`,
    );
    return Object.fromEntries(rows.map((row) => [row.Variable_name, row.Value]));
  }

  /** One statement on the session's connection; rows of any shape, as `QueryRunner.query`. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  query<T = any>(sql: string, parameters?: unknown[]): Promise<T> {
    return this.runner.query(sql, parameters);
  }

  /**
   * `work` in one short write transaction of its own, tried again on a lock timeout, deadlock or busy file.
   * PostgreSQL: with `lock_timeout`; SQLite: `BEGIN IMMEDIATE` (the write lock first, so it never fails half
   * way for another writer), queued behind the app's own operations when they share the DataSource.
   */
  async transaction<T>(what: string, work: () => Promise<T>, lockTimeoutMs = this.guards.lockTimeoutMs): Promise<T> {
    return this.retry(what, () =>
      oneAtATimeOnSqlite(this.dataSource, async () => {
        await this.runner.query(this.dialect === "sqlite" ? `BEGIN IMMEDIATE` : `BEGIN`);
        try {
          if (this.dialect === "postgres") await this.runner.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(lockTimeoutMs))}`);
          const result = await work();
          await this.runner.query(`COMMIT`);
          return result;
        } catch (error) {
          await this.runner.query(`ROLLBACK`).catch(() => undefined);
          throw error;
        }
      }),
    );
  }

  /**
   * One DDL statement outside a transaction (MariaDB/MySQL commit DDL anyway; PostgreSQL's CONCURRENTLY
   * forbids one), tried again when its lock wait runs out. `waits: false` for statements whose lock blocks
   * no reads or writes (PostgreSQL's CREATE INDEX CONCURRENTLY, VALIDATE CONSTRAINT): they may wait as long
   * as they need.
   */
  async ddl(what: string, sql: string, waits = true): Promise<void> {
    await this.retry(what, async () => {
      if (this.dialect === "postgres")
        await this.runner.query(`SET lock_timeout = ${waits ? Math.max(1, Math.round(this.guards.lockTimeoutMs)) : 0}`);
      await this.runner.query(sql);
    });
    if (this.dialect === "postgres") await this.runner.query(`SET lock_timeout = 0`);
  }

  /** `run`, again after a short random pause (growing up to a second) while the database refuses it for a lock or conflict. */
  async retry<T>(what: string, run: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (error) {
        if (!isRetryable(error) || attempt >= this.guards.attempts) throw error;
        await this.guards.onRetry?.(what, attempt);
        await sleep(Math.min(1000, 10 * 2 ** Math.min(attempt, 7)) * (0.5 + Math.random()));
      }
    }
  }
}
