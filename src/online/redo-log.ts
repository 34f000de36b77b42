/**
 * The backfill's redo guard (MariaDB): before each batch, how much of InnoDB's redo log holds changes whose
 * pages are not yet written to the data files (`Innodb_checkpoint_age`), against the most it may hold
 * (`Innodb_checkpoint_max_age`). At that limit every writer of the server waits while pages are written out,
 * sign-ins included. Each user's row grows by its token, which costs InnoDB about 1.5 KB of redo per user
 * (a page reorganized or split, logged whole), far faster than its background writes pages out: left to
 * itself the backfill ran pinned at the limit, and sign-ins stalled for up to 200 ms whenever the disk was
 * slow (bench/RESULTS.md). The guard holds each batch while the log is more than three-quarters full; the
 * backfill then goes at the pace of InnoDB's background writing (`innodb_io_capacity`, and a larger
 * `innodb_log_file_size` gives it room), and no commit waits for it.
 *
 * Servers that do not show these counters (MySQL) are not watched; PostgreSQL's checkpoints never make a
 * commit wait for them, so it needs no such guard.
 */
import type { OnlineSession } from "./session";

/**
 * How full the redo log may be when a batch starts: room for two workers' batches before the limit (a 50 ms
 * batch wrote about 5 MB of the default log's 80 MB). Half full held the backfill to the same pace (measured).
 */
export const REDO_LOG_FULLEST = 0.75;

/** The redo guard's reading before a batch. */
export interface RedoLogFill {
  /** Bytes of redo whose pages are not yet written out. */
  checkpointAge: number;
  /** The most InnoDB lets it reach before every writer waits. */
  maxCheckpointAge: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A reading this recent is shared by the backfill's workers instead of asking the server again. */
const FRESH_MS = 10;

/** Watches InnoDB's redo log for the backfill. */
export class RedoLogGuard {
  private last?: { at: number; reading: Promise<RedoLogFill> };

  private constructor() {}

  /** The guard for the session's server, or `null` when it is not MariaDB or does not show the counters. */
  static async open(session: OnlineSession): Promise<RedoLogGuard | null> {
    if (session.dialect !== "mysql") return null;
    const fill = await read(session);
    return fill.maxCheckpointAge > 0 ? new RedoLogGuard() : null;
  }

  /** How full the redo log is now, read through `on` (a worker's own connection, between its transactions). */
  fill(on: OnlineSession): Promise<RedoLogFill> {
    const now = Date.now();
    if (!this.last || now - this.last.at > FRESH_MS) this.last = { at: now, reading: read(on) };
    return this.last.reading;
  }

  /**
   * Returns once the redo log is at most three-quarters full, polling every 10 ms; `report` is called when a wait
   * begins and every 5 s of it. There is no deadline: a server whose own writes keep the log that full is
   * already stalling its writers, and the backfill would only add to it.
   */
  async waitForRoom(on: OnlineSession, report: (fill: RedoLogFill, waitedMs: number) => Promise<void>): Promise<number> {
    const started = Date.now();
    let reported = -Infinity;
    for (;;) {
      const fill = await this.fill(on);
      if (fill.checkpointAge <= fill.maxCheckpointAge * REDO_LOG_FULLEST) return Date.now() - started;
      const waited = Date.now() - started;
      if (waited - reported >= 5000) {
        reported = waited;
        await report(fill, waited);
      }
      await sleep(FRESH_MS);
    }
  }
}

async function read(session: OnlineSession): Promise<RedoLogFill> {
  const rows: Array<{ Variable_name: string; Value: string }> = await session.query(
    `SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_checkpoint_age', 'Innodb_checkpoint_max_age')`,
  );
  const value = (name: string) => Number(rows.find((r) => r.Variable_name === name)?.Value ?? 0);
  return { checkpointAge: value("Innodb_checkpoint_age"), maxCheckpointAge: value("Innodb_checkpoint_max_age") };
}
