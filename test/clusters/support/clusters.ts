/**
 * The clusters the clusters suite runs against (started by `.ci/clusters start`), whether each is up, and
 * throw-away databases on them. By hand a topology that is down is skipped and named; with CI=true the
 * global setup fails the run instead.
 *
 * TSM_PG_PRIMARY_URL, TSM_PG_REPLICA_URL, TSM_PGBOUNCER_URL, TSM_GALERA_URLS (comma list) override the
 * defaults, the ports `.ci/clusters` uses.
 */
import { execFile } from "child_process";
import { randomBytes } from "crypto";
import { readFileSync } from "fs";
import { join } from "path";
import { promisify } from "util";
import { Client } from "pg";
import { createConnection } from "mysql2/promise";
import { DataSource, type DataSourceOptions } from "typeorm";
import { withNaiveUtc } from "../../../src";

export type Topology = "pg-replica" | "pgbouncer" | "galera";
export const TOPOLOGIES: readonly Topology[] = ["pg-replica", "pgbouncer", "galera"];

export const PG_PRIMARY_URL = process.env.TSM_PG_PRIMARY_URL ?? "postgres://postgres@127.0.0.1:5433/postgres";
export const PG_REPLICA_URL = process.env.TSM_PG_REPLICA_URL ?? "postgres://postgres@127.0.0.1:5434/postgres";
export const PGBOUNCER_URL = process.env.TSM_PGBOUNCER_URL ?? "postgres://postgres@127.0.0.1:6432/postgres";
export const GALERA_URLS = (
  process.env.TSM_GALERA_URLS ?? "mysql://root@127.0.0.1:4306,mysql://root@127.0.0.1:4307,mysql://root@127.0.0.1:4308"
).split(",");

const CLUSTERS_SCRIPT = join(__dirname, "..", "..", "..", ".ci", "clusters");
const CLUSTERS_DIR = process.env.TSM_CLUSTERS_DIR ?? "/tmp/tsm-clusters";

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export async function withPgAt<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Resolves once the replica has replayed everything the primary has written so far. */
export async function replicaCaughtUp(): Promise<void> {
  const { rows } = await withPgAt(PG_PRIMARY_URL, (c) => c.query(`SELECT pg_current_wal_lsn()::text AS lsn`));
  for (;;) {
    const { rows: done } = await withPgAt(PG_REPLICA_URL, (c) =>
      c.query(`SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done`, [rows[0].lsn]),
    );
    if (done[0].done) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Stops the replica applying WAL (it keeps receiving it): a replica that lags on purpose. */
export const pauseReplica = () => withPgAt(PG_REPLICA_URL, (c) => c.query(`SELECT pg_wal_replay_pause()`));

/** Lets the replica apply WAL again; a replica already gone is no error (tests call it while cleaning up). */
export const resumeReplica = () => withPgAt(PG_REPLICA_URL, (c) => c.query(`SELECT pg_wal_replay_resume()`)).catch(() => undefined);

export async function withMysqlAt<T>(url: string, fn: (c: Awaited<ReturnType<typeof createConnection>>) => Promise<T>): Promise<T> {
  const connection = await createConnection({ uri: url, connectTimeout: 5000 });
  try {
    return await fn(connection);
  } finally {
    await connection.end();
  }
}

/** Why each topology that is down cannot be used. */
export async function probeClusters(): Promise<Partial<Record<Topology, string>>> {
  const down: Partial<Record<Topology, string>> = {};
  const start = "start it with .ci/clusters start";
  try {
    await withPgAt(PG_PRIMARY_URL, (c) => c.query("SELECT 1"));
    const { rows } = await withPgAt(PG_REPLICA_URL, (c) => c.query("SELECT pg_is_in_recovery() AS standby"));
    if (!rows[0].standby) throw new Error(`${PG_REPLICA_URL} is not a standby`);
  } catch (error) {
    down["pg-replica"] = `PostgreSQL primary + replica not usable: ${(error as Error).message}; ${start} pg`;
  }
  try {
    await withPgAt(PGBOUNCER_URL, (c) => c.query("SELECT 1"));
  } catch (error) {
    down.pgbouncer = `PgBouncer at ${PGBOUNCER_URL} not usable: ${(error as Error).message}; ${start} pg`;
  }
  try {
    for (const url of GALERA_URLS) {
      const [[row]] = (await withMysqlAt(url, (c) => c.query("SHOW STATUS LIKE 'wsrep_cluster_size'"))) as unknown as [[{ Value: string }]];
      if (Number(row?.Value) !== GALERA_URLS.length) throw new Error(`${url} sees a cluster of ${row?.Value ?? 0} nodes`);
    }
  } catch (error) {
    down.galera = `Galera cluster not usable: ${(error as Error).message}; ${start} galera`;
  }
  return down;
}

/** Why `topology`'s tests are skipped in this run, or undefined when they run (set by the global setup). */
export function skipReason(topology: Topology): string | undefined {
  return (JSON.parse(process.env.TSM_CLUSTERS_DOWN ?? "{}") as Partial<Record<Topology, string>>)[topology];
}

/** `describe`, or `describe.skip` with the reason in its title when the topology is down. */
export function describeOn(topology: Topology, title: string, body: () => void): void {
  const reason = skipReason(topology);
  (reason ? describe.skip : describe)(reason ? `${title} [${topology}] SKIPPED: ${reason}` : `${title} [${topology}]`, body);
}

export const randomName = () => `tsm_${process.pid}_${randomBytes(4).toString("hex")}`;

type Extra = Partial<DataSourceOptions> & Record<string, unknown>;

/** A throw-away PostgreSQL database on the primary (which the replica copies), dropped by `drop`. */
export class PgClusterDatabase {
  readonly name = randomName();
  private readonly opened: DataSource[] = [];

  async create(): Promise<void> {
    await withPgAt(PG_PRIMARY_URL, (c) => c.query(`CREATE DATABASE ${this.name}`));
  }

  /** Opens a DataSource on this database at `url` (the primary, PgBouncer), or the primary with the replica. */
  async dataSource(how: { url: string } | "replication", extra: Extra): Promise<DataSource> {
    const connection =
      how === "replication"
        ? {
            replication: {
              master: { url: withDatabase(PG_PRIMARY_URL, this.name) },
              slaves: [{ url: withDatabase(PG_REPLICA_URL, this.name) }],
            },
          }
        : { url: withDatabase(how.url, this.name) };
    const ds = new DataSource(withNaiveUtc({ type: "postgres", ...connection, ...extra } as DataSourceOptions));
    await ds.initialize();
    this.opened.push(ds);
    return ds;
  }

  async drop(): Promise<void> {
    await Promise.all(this.opened.filter((ds) => ds.isInitialized).map((ds) => ds.destroy().catch(() => undefined)));
    await withPgAt(PG_PRIMARY_URL, (c) => c.query(`DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`));
  }
}

/** A throw-away database on the Galera cluster (created on node 1, replicated to all), dropped by `drop`. */
export class GaleraDatabase {
  readonly name = randomName();
  private readonly opened: DataSource[] = [];

  async create(): Promise<void> {
    await withMysqlAt(GALERA_URLS[0], (c) => c.query(`CREATE DATABASE ${this.name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`));
  }

  /** Opens a DataSource on this database at node `node` (0-based). */
  async dataSource(node: number, extra: Extra): Promise<DataSource> {
    const ds = new DataSource(
      withNaiveUtc({ type: "mariadb", url: withDatabase(GALERA_URLS[node], this.name), ...extra } as DataSourceOptions),
    );
    await ds.initialize();
    this.opened.push(ds);
    return ds;
  }

  async drop(): Promise<void> {
    await Promise.all(this.opened.filter((ds) => ds.isInitialized).map((ds) => ds.destroy().catch(() => undefined)));
    await withMysqlAt(GALERA_URLS[0], (c) => c.query(`DROP DATABASE IF EXISTS ${this.name}`));
  }
}

const run = promisify(execFile);

/** Runs `.ci/clusters` with `args` (say `start galera-node 3`). */
export async function clustersScript(...args: string[]): Promise<string> {
  const { stdout } = await run(CLUSTERS_SCRIPT, args, { timeout: 180000 });
  return stdout;
}

/** SIGKILLs Galera node `node` (1-based), as a crash would, and resolves when its process has gone. */
export async function killGaleraNode(node: number): Promise<void> {
  const pid = Number(readFileSync(join(CLUSTERS_DIR, "galera", `n${node}.pid`), "utf8"));
  process.kill(pid, "SIGKILL");
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
