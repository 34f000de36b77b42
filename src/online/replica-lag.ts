/**
 * The backfill's replica guard: before each batch, how long ago the oldest of the backfill's own writes that a
 * replica has not yet replayed was committed; past `maxReplicaLagMs` the backfill waits for the replicas.
 *
 * PostgreSQL: the primary's `pg_stat_replication` shows each standby's `replay_lsn`. The guard notes the WAL
 * position after each batch it commits and compares it with the slowest standby's replay position, so a
 * standby whose replay is stopped (`pg_wal_replay_pause()`, a long query on it holding replay back) counts as
 * lagging from the first batch it has not applied; `replay_lag` itself stops moving while replay is stopped, so
 * it is not what the guard reads. A standby that is disconnected is not in the view: it catches up from WAL
 * when it comes back, and the backfill does not wait for it.
 *
 * MariaDB Galera: a node that falls behind makes the whole cluster pause its writers (flow control), sign-ins
 * included. The guard reads `wsrep_flow_control_paused_ns` after each batch: when flow control paused the
 * cluster since the previous batch, the backfill waits until a whole `maxReplicaLagMs` goes by without a pause
 * and the writer node's own receive queue is empty. MariaDB's asynchronous replicas cannot be seen from the
 * primary: there, `pauseMs` is the only brake.
 */
import { OnlineUpgradeError, type OnlineSession } from "./session";

/** The replica guard's reading before a batch. */
export interface ReplicaLag {
  /** How far the slowest replica is behind the backfill, in ms (Galera: 0 or the time since flow control last paused). */
  lagMs: number;
  /** What the guard watches, for messages: `2 standbys`, `Galera, 3 nodes`. */
  watching: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A WAL position (`16/B374D848`) as a number that compares. */
const lsn = (text: string) => {
  const [high, low] = text.split("/");
  return BigInt(`0x${high}`) * 2n ** 32n + BigInt(`0x${low}`);
};

/** Watches the replicas of the session's database for the backfill. */
export class ReplicaLagGuard {
  /** PostgreSQL: the WAL position after each batch not yet replayed everywhere, with when it was committed. */
  private readonly unreplayed: Array<{ position: bigint; at: number }> = [];
  /** Galera: flow control's paused total at the last reading, and when it last grew. */
  private paused = { ns: 0n, grewAt: 0 };

  private constructor(
    private readonly session: OnlineSession,
    private readonly maxLagMs: number,
    readonly watching: string,
  ) {}

  /**
   * The guard for the session's database, or `null` when it has no replica it can watch (or `maxLagMs` is
   * `false`). Standbys that the connection's role may not inspect (it needs `pg_monitor`) make it throw when
   * the caller asked for a limit, and pass with a warning otherwise.
   */
  static async open(
    session: OnlineSession,
    maxLagMs: number | false,
    explicit: boolean,
    warn: (message: string) => Promise<void>,
  ): Promise<ReplicaLagGuard | null> {
    if (maxLagMs === false) return null;
    if (session.dialect === "postgres") {
      const [row] = await session.query(`SELECT count(*)::int AS standbys, count(replay_lsn)::int AS visible FROM pg_stat_replication`);
      if (row.standbys === 0) return null;
      if (row.visible < row.standbys) {
        const why = `${row.standbys} standby(s) replicate this database but the upgrade's role cannot read their replay position (grant it pg_monitor)`;
        if (explicit) throw new OnlineUpgradeError("DataSource", "maxReplicaLagMs", "replica-lag-unseen", `${why}; nothing was changed`);
        await warn(`${why}: the backfill does not wait for them`);
        return null;
      }
      return new ReplicaLagGuard(session, maxLagMs, `${row.standbys} standby(s)`);
    }
    if (session.dialect === "mysql") {
      const status = await galeraStatus(session);
      const size = Number(status.wsrep_cluster_size ?? 0);
      if (size < 2) return null;
      const guard = new ReplicaLagGuard(session, maxLagMs, `Galera, ${size} nodes`);
      guard.paused = { ns: BigInt(status.wsrep_flow_control_paused_ns ?? 0), grewAt: 0 };
      return guard;
    }
    return null;
  }

  /** Notes a batch the backfill has just committed. */
  async committed(): Promise<void> {
    if (this.session.dialect !== "postgres") return;
    const [row] = await this.session.query(`SELECT pg_current_wal_lsn()::text AS position`);
    this.unreplayed.push({ position: lsn(row.position), at: Date.now() });
  }

  /** How far the replicas are behind the backfill now. */
  async lag(): Promise<ReplicaLag> {
    const now = Date.now();
    if (this.session.dialect === "postgres") {
      const [row] = await this.session.query(`SELECT min(replay_lsn)::text AS replayed FROM pg_stat_replication`);
      // Every standby gone from the view: nothing left to wait for (a disconnected one catches up from WAL).
      const replayed = row.replayed === null ? null : lsn(row.replayed);
      while (this.unreplayed.length > 0 && (replayed === null || this.unreplayed[0].position <= replayed)) this.unreplayed.shift();
      return { lagMs: this.unreplayed.length > 0 ? now - this.unreplayed[0].at : 0, watching: this.watching };
    }
    const status = await galeraStatus(this.session);
    const ns = BigInt(status.wsrep_flow_control_paused_ns ?? 0);
    if (ns > this.paused.ns || Number(status.wsrep_local_recv_queue ?? 0) > 0) this.paused.grewAt = now;
    this.paused.ns = ns;
    return { lagMs: this.paused.grewAt === 0 ? 0 : Math.max(0, this.maxLagMs - (now - this.paused.grewAt) + 1), watching: this.watching };
  }

  /**
   * Returns once the replicas are at most `maxLagMs` behind, polling; `report` is called when a wait begins
   * and every 5 s of it.
   */
  async waitForReplicas(report: (lag: ReplicaLag, waitedMs: number) => Promise<void>): Promise<number> {
    const started = Date.now();
    let reported = -Infinity;
    for (;;) {
      const lag = await this.lag();
      if (lag.lagMs <= this.maxLagMs) return Date.now() - started;
      const waited = Date.now() - started;
      if (waited - reported >= 5000) {
        reported = waited;
        await report(lag, waited);
      }
      await sleep(Math.min(250, Math.max(20, this.maxLagMs / 4)));
    }
  }
}

function galeraStatus(session: OnlineSession): Promise<Record<string, string>> {
  return session.globalStatus(["wsrep_cluster_size", "wsrep_flow_control_paused_ns", "wsrep_local_recv_queue"]);
}
