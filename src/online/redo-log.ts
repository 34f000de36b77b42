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
 * batch wrote about 5 MB of the default log's 80 MB). Half full held the backfill to the same pace; 92%, in
 * the last eighth where InnoDB writes pages out at once, was three times slower still (bench/RESULTS.md).
 */
export const REDO_LOG_FULLEST = 0.75;

/**
 * Redo InnoDB logs per user the backfill gives a token: each row grows, and the page it sits on is
 * reorganized or split and logged whole (bench/RESULTS.md: 1,506-1,535 MB for a million users, V1 to V2).
 */
export const REDO_PER_USER = 1500;

/** How big InnoDB's redo log is on this server, for the dry run's advice. */
export interface RedoLogSize {
  /** The most redo it may hold not yet written out (`Innodb_checkpoint_max_age`), in bytes. */
  room: number;
  /** `innodb_log_file_size`, in bytes: the room is a fixed share of it. */
  fileSize: number;
}

/**
 * The `innodb_log_file_size` that lets a backfill of `users` run without waiting (its redo stays below
 * `REDO_LOG_FULLEST` of the room, so no page need be written out before it ends), in steps of 256 MB; `null`
 * when the log has that room already. Without it, the backfill goes at the pace InnoDB writes pages out in
 * the background: 230-660 pages/s measured, whatever `innodb_io_capacity` (200 or 2000), for some 30,000
 * pages per million users, so minutes (bench/RESULTS.md).
 */
export function roomierRedoLog(size: RedoLogSize, users: number): number | null {
  const needed = (users * REDO_PER_USER) / REDO_LOG_FULLEST;
  if (size.room >= needed) return null;
  const step = 256 * 2 ** 20;
  return Math.ceil(needed / (size.room / size.fileSize) / step) * step;
}

/** The redo guard's reading before a batch. */
export interface RedoLogFill {
  /** Bytes of redo whose pages are not yet written out. */
  checkpointAge: number;
  /** The most InnoDB lets it reach before every writer waits. */
  maxCheckpointAge: number;
  /** Where InnoDB's last checkpoint is: it moves on as pages are written out. */
  lastCheckpoint: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A reading this recent is shared by the backfill's workers instead of asking the server again. */
const FRESH_MS = 10;

/**
 * How long the checkpoint may stand still before the guard stops waiting for it. While InnoDB writes pages
 * out, its checkpoint moves on every 80 ms to 2 s (measured with the log more than half full); when it does
 * not move, nothing is being written out, however full the log reads, and waiting would stop the backfill for
 * good (a CI run's backfills waited minutes, at a few thousand users, before this).
 */
const STILL_MS = 3000;

/** Watches InnoDB's redo log for the backfill. */
export class RedoLogGuard {
  private last?: { at: number; reading: Promise<RedoLogFill> };
  /** The checkpoint last seen while waiting, and since when it has stood there. */
  private checkpoint = { at: -1, since: 0 };

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
   * Returns once the redo log is at most three-quarters full, polling every 10 ms, or at once while InnoDB's
   * checkpoint has stood still for 3 s (nothing is being written out, so there is nothing to wait for; the
   * waits resume when it moves); `report` is called when a wait begins and every 5 s of it. There is no
   * other deadline: a server whose own writes keep the log that full is already near stalling its writers,
   * and the backfill would only add to it.
   */
  async waitForRoom(on: OnlineSession, report: (fill: RedoLogFill, waitedMs: number) => Promise<void>): Promise<number> {
    const started = Date.now();
    let reported = -Infinity;
    for (;;) {
      const fill = await this.fill(on);
      if (fill.checkpointAge <= fill.maxCheckpointAge * REDO_LOG_FULLEST) return Date.now() - started;
      const now = Date.now();
      if (fill.lastCheckpoint !== this.checkpoint.at) this.checkpoint = { at: fill.lastCheckpoint, since: now };
      else if (now - this.checkpoint.since >= STILL_MS) return now - started;
      if (now - started - reported >= 5000) {
        reported = now - started;
        await report(fill, reported);
      }
      await sleep(FRESH_MS);
    }
  }
}

/** MariaDB: how big InnoDB's redo log is; `null` on other servers or without the counter. */
export async function redoLogSize(session: OnlineSession): Promise<RedoLogSize | null> {
  if (session.dialect !== "mysql") return null;
  const room = (await read(session)).maxCheckpointAge;
  if (!(room > 0)) return null;
  const [{ size }] = await session.query(`SELECT @@GLOBAL.innodb_log_file_size AS size`);
  return { room, fileSize: Number(size) };
}

async function read(session: OnlineSession): Promise<RedoLogFill> {
  const status = await session.globalStatus(["Innodb_checkpoint_age", "Innodb_checkpoint_max_age", "Innodb_lsn_last_checkpoint"]);
  return {
    checkpointAge: Number(status.Innodb_checkpoint_age ?? 0),
    maxCheckpointAge: Number(status.Innodb_checkpoint_max_age ?? 0),
    lastCheckpoint: Number(status.Innodb_lsn_last_checkpoint ?? 0),
  };
}
