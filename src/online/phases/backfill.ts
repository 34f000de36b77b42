/**
 * `backfill`: existing users get their random token in batches of about `batchMs`, each batch its own short
 * transaction, waiting between batches for lagging replicas and, on MariaDB, for room in InnoDB's redo log.
 */
import { REDO_LOG_FULLEST, REDO_PER_USER, RedoLogGuard, roomierRedoLog } from "../redo-log";
import { ReplicaLagGuard } from "../replica-lag";
import { OnlineSession } from "../session";
import type { Settings } from "../upgrade";
import type { ColumnsStepContext } from "./context";
import type { Phase } from "./shared";
import { CHUNKS_IN_TURN, pageRounds, pageRoundStatement } from "./page-rounds";
import { twinsBehind } from "./twins";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mb = (bytes: number) => Math.round(bytes / 1e6);

/**
 * One batch: the users without a token whose `id` (quoted) is in `[?, ?)` get a random one; with twins
 * (MariaDB, `twins.ts`), every row of the range whose twin differs from its column gets it copied, and keeps
 * the token it has.
 */
function batchStatement({ step, dialect, quote: q, table, token, random, withoutToken, twins }: ColumnsStepContext, id: string): string {
  const keepUpdateDatetime =
    dialect === "mysql" && step.user.updateDateColumn
      ? `, ${q(step.user.updateDateColumn.databaseName)} = ${q(step.user.updateDateColumn.databaseName)}`
      : "";
  const placeholders = dialect === "postgres" ? ["$1", "$2"] : ["?", "?"];
  const range = `${id} >= ${placeholders[0]} AND ${id} < ${placeholders[1]}`;
  if (!twins) return `UPDATE ${table} SET ${token} = ${random}${keepUpdateDatetime} WHERE ${range} AND ${withoutToken}`;
  const copies = twins.columns.map((t) => `, ${q(t.name)} = ${q(t.column.databaseName)}`).join("");
  return (
    `UPDATE ${table} SET ${token} = CASE WHEN ${withoutToken} THEN ${random} ELSE ${token} END${copies}${keepUpdateDatetime} ` +
    `WHERE ${range} AND (${withoutToken} OR ${twinsBehind(twins, q)})`
  );
}

/**
 * PostgreSQL: whether this session compresses the WAL it writes (see `OnlineSession.walCompression`), said in
 * the plan because it decides how much the backfill writes, and only a DBA can change it.
 */
function walNote({ session }: ColumnsStepContext): string {
  if (session.dialect !== "postgres") return "";
  return session.walCompression
    ? `; its WAL compressed (${session.walCompression})`
    : `; its WAL not compressed (this role may not set wal_compression: GRANT SET ON PARAMETER wal_compression TO the role, PostgreSQL 15+), so it writes more`;
}

/** MariaDB: that each batch waits for room in InnoDB's redo log (see `RedoLogGuard`), said in the plan. */
function redoNote({ session }: ColumnsStepContext): string {
  return session.dialect === "mysql"
    ? "; each batch waits while InnoDB's redo log is more than three-quarters full of changes not yet written out"
    : "";
}

/**
 * MariaDB, a log too small for `users`: that the backfill will wait for InnoDB's background writes, and the
 * statement that gives it room (`roomierRedoLog`), said in the plan.
 */
function redoAdvice({ redoLog }: ColumnsStepContext, users: number): string {
  const size = redoLog && roomierRedoLog(redoLog, users);
  if (!redoLog || !size) return "";
  return (
    `. For ${users.toLocaleString("en")} users it writes about ${mb(users * REDO_PER_USER)} MB of redo (about ${(REDO_PER_USER / 1000).toFixed(1)} KB each), ` +
    `more than the ${mb(redoLog.room * REDO_LOG_FULLEST)} MB it may fill of this log (three-quarters of its ${mb(redoLog.room)} MB of room; ` +
    `innodb_log_file_size is ${mb(redoLog.fileSize)} MB), so once the log is that full it goes at the pace InnoDB writes pages out ` +
    `in the background, which can take many times the offline migration. To let it run through, first: ` +
    `SET GLOBAL innodb_log_file_size = ${size} (MariaDB 10.9+, no restart; see the runbook, "MariaDB: room in the redo log")`
  );
}

/** How many connections share the backfill, said in the plan when more than one. */
function workersNote({ session }: ColumnsStepContext, options: Settings): string {
  return session.dialect !== "sqlite" && options.workers > 1 ? `, ${options.workers} workers side by side on their own connections` : "";
}

/**
 * Runs `work` on `[first, end)` split into one slice per session (fewer when the range is shorter). The first
 * error of any worker is the call's; the others end their batch and stop.
 */
async function inSlices(
  sessions: OnlineSession[],
  first: number,
  end: number,
  work: (on: OnlineSession, from: number, to: number, stopped: () => boolean) => Promise<void>,
): Promise<void> {
  const workers = sessions.slice(0, Math.max(1, Math.min(sessions.length, end - first)));
  const slice = Math.ceil((end - first) / workers.length);
  let failure: { error: unknown } | undefined;
  await Promise.all(
    workers.map((on, i) =>
      work(on, first + i * slice, Math.min(end, first + (i + 1) * slice), () => failure !== undefined).catch((error: unknown) => {
        failure ??= { error };
      }),
    ),
  );
  if (failure) throw failure.error;
}

/** The next size of a batch that took `took` ms: about `batchMs`, growing or shrinking at most fourfold at a time. */
function resized(size: number, took: number, least: number, batchMs: number): number {
  return Math.max(least, Math.min(100_000, Math.round(size * Math.min(4, Math.max(0.25, batchMs / took)))));
}

/** The `backfill` phase of the step. */
export function backfillPhase(context: ColumnsStepContext, options: Settings): Phase {
  const { session, step, quote: q, table, backfillPredicate, hasNewColumns } = context;
  const id = q("id");
  const batchSql = batchStatement(context, id);
  /** Users the backfill has left (every user while the column is not there yet). */
  const rowsLeft = async () =>
    Number(
      (await session.query(`SELECT COUNT(*) AS n FROM ${table}${(await hasNewColumns()) ? ` WHERE ${await backfillPredicate()}` : ""}`))[0]
        .n,
    );
  return {
    migration: step.migration,
    phase: "backfill",
    beforeDeploy: true,
    description: `give every existing user a distinct random ${step.token.databaseName}${
      context.twins
        ? ` and copy ${context.twins.columns.map((t) => t.column.databaseName).join(", ")} into ${context.twins.columns.length > 1 ? "their twins" : "its twin"}`
        : ""
    }, in batches of about ${options.batchMs} ms, each its own transaction${workersNote(context, options)}${walNote(context)}${redoNote(context)}${
      context.dialect === "postgres"
        ? "; on PostgreSQL 14+ page by page first, a few rows of each page moved out so that the rest are updated in place (fewer index entries, less WAL), then in id order the rows the app moved meanwhile"
        : ""
    }`,
    statements: context.dialect === "postgres" ? [pageRoundStatement(context), batchSql] : [batchSql],
    rows: rowsLeft,
    advise: (users) => redoAdvice(context, users),
    isDone: async () => (await hasNewColumns()) && (await rowsLeft()) === 0,
    run: async (report) => {
      const total = await rowsLeft();
      if (total === 0) return;
      let done = 0;
      const started = Date.now();
      const replicas = await ReplicaLagGuard.open(session, options.maxReplicaLagMs, options.replicaLagExplicit, (message) =>
        report({ event: "wait", message }),
      );
      const redo = await RedoLogGuard.open(session);
      /**
       * One statement in its own transaction, after the replicas caught up and with room in the redo log;
       * counts and reports what it changed.
       */
      const batch = async (on: OnlineSession, sql: string, params: number[]): Promise<number> => {
        await replicas?.waitForReplicas((lag, waited) =>
          report({
            event: "wait",
            message: `waiting for ${lag.watching}: ${Math.round(lag.lagMs)} ms behind the backfill (more than ${options.maxReplicaLagMs} ms), waited ${Math.round(waited / 1000)} s`,
            replicaLagMs: Math.round(lag.lagMs),
          }),
        );
        await redo?.waitForRoom(on, (fill, waited) =>
          report({
            event: "wait",
            message: `waiting for InnoDB to write out pages: its redo log holds ${mb(fill.checkpointAge)} MB not yet written out, of at most ${mb(fill.maxCheckpointAge)} MB (the backfill goes on below three-quarters), waited ${Math.round(waited / 1000)} s`,
          }),
        );
        const batchStarted = Date.now();
        const changed = await on.transaction(`backfill ${step.token.databaseName}`, async () => {
          const result = await on.runner.query(sql, params, true);
          return Number(result.affected ?? 0);
        });
        const took = Math.max(1, Date.now() - batchStarted);
        await replicas?.committed();
        done += changed;
        const seconds = Math.max(0.001, (Date.now() - started) / 1000);
        const rate = done / seconds;
        await report({
          event: "progress",
          message: `${Math.min(done, total)} of ${total} users`,
          rowsDone: Math.min(done, total),
          rowsTotal: total,
          rowsPerSecond: Math.round(rate),
          secondsLeft: rate > 0 ? Math.max(0, (total - done) / rate) : undefined,
        });
        if (options.pauseMs > 0) await sleep(options.pauseMs);
        return took;
      };
      const resize = (size: number, took: number, least: number) => resized(size, took, least, options.batchMs);

      // SQLite has one writer: more workers would only queue behind each other.
      const workers = session.dialect === "sqlite" ? 1 : Math.max(1, options.workers);
      const sessions = [session];
      try {
        while (sessions.length < workers) sessions.push(await OnlineSession.openWorker(session));

        // PostgreSQL: page by page first, most rows updated in place (`page-rounds.ts`).
        const rounds = await pageRounds(context);
        if (rounds)
          await inSlices(sessions, 0, rounds.pages, async (on, from, to, stopped) => {
            // Chunks of pages sized so that a round takes about batchMs; a first guess of 500 rows.
            let pages = Math.max(1, Math.round(500 / Math.max(1, rounds.rowsPerPage)));
            while (from < to && !stopped()) {
              const chunks: [number, number][] = [];
              for (let at = from; at < to && chunks.length < CHUNKS_IN_TURN; at += pages) chunks.push([at, Math.min(to, at + pages)]);
              let slowest = 1;
              for (const perPage of rounds.perPage)
                for (const [first, end] of chunks)
                  if (!stopped()) slowest = Math.max(slowest, await batch(on, rounds.statement, [first, end, perPage]));
              from = chunks[chunks.length - 1][1];
              pages = resize(pages, slowest, 1);
            }
          });

        // Batches in id order: every user on SQLite and MariaDB/MySQL; on PostgreSQL, those the app moved off
        // their page during the rounds. Rows inserted from now on get their token from the default (or
        // trigger), and their twins from the triggers: only ids up to here need it.
        const [{ low, high }] = await session.query(
          `SELECT MIN(${id}) AS low, MAX(${id}) AS high FROM ${table} WHERE ${await backfillPredicate()}`,
        );
        if (low === null || low === undefined) return;
        await inSlices(sessions, Number(low), Number(high) + 1, async (on, from, to, stopped) => {
          let size = 500;
          while (from < to && !stopped()) {
            const next = Math.min(from + size, to);
            const took = await batch(on, batchSql, [from, next]);
            from = next;
            size = resize(size, took, 50);
          }
        });
      } finally {
        for (const other of sessions.slice(1)) await other.close();
      }
    },
  };
}
