/**
 * MariaDB: the backfill holds its batches while InnoDB's redo log is more than three-quarters full of changes not yet
 * written out (src/online/redo-log.ts), so that its writes never push the server to the limit where every commit
 * waits. Checked with another connection writing hard enough to keep the log that full: the backfill waits (and
 * says so) until that writer stops, then finishes with every handle there and distinct.
 */
import type { DataSource } from "typeorm";
import { planOnlineUpgrade, upgradeOnline } from "../../src";
import type { OnlineUpgradeProgress } from "../../src";
import { REDO_LOG_FULLEST, REDO_PER_USER } from "../../src/online/redo-log";
import { describeOnDatabase, TestDatabase } from "../support/database";
import { filledAtV2 } from "./support/at-v2";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** InnoDB's redo fill now: bytes not yet written out, and the most allowed. */
async function redoFill(ds: DataSource): Promise<{ age: number; max: number }> {
  const rows: Array<{ Variable_name: string; Value: string }> = await ds.query(
    `SHOW GLOBAL STATUS WHERE Variable_name IN ('Innodb_checkpoint_age', 'Innodb_checkpoint_max_age')`,
  );
  const value = (name: string) => Number(rows.find((r) => r.Variable_name === name)!.Value);
  return { age: value("Innodb_checkpoint_age"), max: value("Innodb_checkpoint_max_age") };
}

/**
 * Rewrites a scratch table of 32 MB, 4 MB at a time, each its own transaction, until `stop()`: redo faster than
 * the page cleaner writes pages out, spread over more pages than it writes in a few seconds.
 */
function redoWriter(ds: DataSource): { stop: () => Promise<void> } {
  let stopped = false;
  const running = (async () => {
    await ds.query(`CREATE TABLE redo_scratch (id INT PRIMARY KEY, pad VARCHAR(1000) NOT NULL) ENGINE=InnoDB`);
    await ds.query(`INSERT INTO redo_scratch (id, pad) SELECT seq, REPEAT('a', 1000) FROM seq_0_to_31999`);
    for (let pass = 0; !stopped; pass++) {
      const from = (pass % 8) * 4000;
      await ds.query(`UPDATE redo_scratch SET pad = REPEAT(CHAR(98 + ${pass % 20}), 1000) WHERE id >= ${from} AND id < ${from + 4000}`);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await running;
    },
  };
}

describeOnDatabase("mariadb", "online backfill on MariaDB: waits for room in InnoDB's redo log", () => {
  const databases: TestDatabase[] = [];
  afterAll(async () => {
    for (const database of databases) await database.drop();
  });

  it("holds its batches while another writer keeps the redo log more than three-quarters full, says why, and finishes once it has room", async () => {
    const { v2, v3 } = await filledAtV2("mariadb", 2000, databases);
    const writer = redoWriter(v2);
    // The writer fills the log past the guard's mark within seconds on a default-sized log (96 MB).
    const deadline = Date.now() + 30_000;
    let fill = await redoFill(v2);
    while (fill.age <= fill.max * (REDO_LOG_FULLEST + 0.1) && Date.now() < deadline) {
      await sleep(20);
      fill = await redoFill(v2);
    }
    expect(fill.age).toBeGreaterThan(fill.max * REDO_LOG_FULLEST);

    const waits: OnlineUpgradeProgress[] = [];
    let stopped = 0;
    let lastBatch = 0;
    let stopping: Promise<void> | undefined;
    await upgradeOnline(v3, {
      batchMs: 5,
      complete: true,
      onProgress: (progress) => {
        if (progress.phase !== "backfill") return;
        if (progress.event === "progress") lastBatch = Date.now();
        if (progress.event === "wait") {
          waits.push(progress);
          // The backfill said it waits: let the server catch up, a second later.
          stopping ??= sleep(1000)
            .then(() => writer.stop())
            .then(() => void (stopped = Date.now()));
        }
      },
    });
    await stopping;
    expect(waits.length).toBeGreaterThan(0);
    // Its last users got their handles only once the other writer had stopped.
    expect(stopped).toBeGreaterThan(0);
    expect(lastBatch).toBeGreaterThan(stopped);
    const [message] = waits.map((w) => w.message);
    const [held, most] = (message.match(/holds (\d+) MB not yet written out, of at most (\d+) MB/) ?? []).slice(1).map(Number);
    expect(held).toBeGreaterThan(most * REDO_LOG_FULLEST);
    expect(most).toBe(Math.round(fill.max / 1e6));

    const [counts] = await v3.query(
      `SELECT COUNT(*) AS users, COUNT(fs_webauthn_user_handle) AS handles, COUNT(DISTINCT fs_webauthn_user_handle) AS distinct_handles FROM \`user\``,
    );
    expect(Number(counts.handles)).toBe(2000);
    expect(Number(counts.distinct_handles)).toBe(2000);
    await expect(v3.showMigrations()).resolves.toBe(false);
  });

  it("the dry run's plan says the backfill waits for room in the redo log, and on a table too big for the log, the size that lets it run through", async () => {
    // 45,000 users write about 68 MB of redo: more than three-quarters of the default 96 MB log's 81 MB of room.
    const users = 45_000;
    const { v3 } = await filledAtV2("mariadb", users, databases);
    const backfill = (await planOnlineUpgrade(v3)).phases.find((p) => p.phase === "backfill")!;
    expect(backfill.rows).toBe(users);
    expect(backfill.description).toContain("each batch waits while InnoDB's redo log is more than three-quarters full");
    const { max: room } = await redoFill(v3);
    const [{ fileSize }] = await v3.query(`SELECT @@GLOBAL.innodb_log_file_size AS fileSize`);
    const roomOf = (size: number) => (size * room) / Number(fileSize);
    const needed = (users * REDO_PER_USER) / REDO_LOG_FULLEST;
    const advised = /SET GLOBAL innodb_log_file_size = (\d+) \(MariaDB 10\.9\+, no restart; see the runbook/.exec(backfill.description);
    if (room >= needed) {
      // A server given a larger log than the default: nothing to advise.
      expect(advised).toBeNull();
    } else {
      expect(backfill.description).toContain(`For 45,000 users it writes about ${Math.round((users * REDO_PER_USER) / 1e6)} MB of redo`);
      expect(backfill.description).toContain(
        `more than the ${Math.round((room * REDO_LOG_FULLEST) / 1e6)} MB it may fill of this log (three-quarters of its ${Math.round(room / 1e6)} MB of room; ` +
          `innodb_log_file_size is ${Math.round(Number(fileSize) / 1e6)} MB)`,
      );
      // The size advised is the smallest step of 256 MB whose room holds the backfill below the guard's mark.
      const size = Number(advised![1]);
      expect(size % (256 * 2 ** 20)).toBe(0);
      expect(roomOf(size)).toBeGreaterThanOrEqual(needed);
      expect(roomOf(size - 256 * 2 ** 20)).toBeLessThan(needed);
    }
    // A small table fits in any log: no advice.
    const { v3: small } = await filledAtV2("mariadb", 10, databases);
    const smallBackfill = (await planOnlineUpgrade(small)).phases.find((p) => p.phase === "backfill")!;
    expect(smallBackfill.description).toContain("more than three-quarters full");
    expect(smallBackfill.description).not.toContain("SET GLOBAL");
  });
});
