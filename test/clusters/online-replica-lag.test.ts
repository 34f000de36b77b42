/**
 * The online upgrade's replica guard on a PostgreSQL primary with a streaming replica: with the replica's
 * replay paused the backfill stops within `maxReplicaLagMs` of its first unreplayed batch and says so, and
 * goes on when replay resumes; without the guard the same backfill runs to its end while the replica stays
 * behind. A role that may not read the standbys' positions is refused when it asks for the guard, and told
 * (and not held up) when it did not ask. On Galera, a node that stops applying makes the backfill wait for flow
 * control to stay off.
 */
import { DataSource } from "typeorm";
import { upgradeOnline, type OnlineUpgradeProgress } from "../../src";
import { APPS, MIGRATIONS } from "../online/support/apps";
import { fillV1 } from "../fixtures/v1-users";
import { createConnection } from "mysql2/promise";
import {
  describeOn,
  GALERA_URLS,
  GaleraDatabase,
  PG_PRIMARY_URL,
  PG_REPLICA_URL,
  PgClusterDatabase,
  pauseReplica,
  replicaCaughtUp,
  resumeReplica,
  withDatabase,
  withPgAt,
} from "./support/clusters";

/** Enough users that the backfill takes far longer than the lag it may build up while the replica is paused. */
const USERS = 20_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Users with a token, as `url`'s server answers (the primary or the replica). */
const tokened = (url: string, database: string) =>
  withPgAt(withDatabase(url, database), async (c) =>
    Number((await c.query(`SELECT count(fs_token_uniquifier) AS n FROM "user"`)).rows[0].n),
  );
/** The replica has not replayed even the expand phase: the new column is not there yet. */
const replicaLacksColumn = (database: string) =>
  expect(
    withPgAt(withDatabase(PG_REPLICA_URL, database), (c) => c.query(`SELECT fs_token_uniquifier FROM "user" LIMIT 1`)),
  ).rejects.toThrow(/fs_token_uniquifier/);

describeOn("pg-replica", "online upgrade, replica guard", () => {
  const databases: PgClusterDatabase[] = [];
  afterEach(resumeReplica);
  afterAll(async () => {
    await resumeReplica();
    for (const db of databases) await db.drop();
  });

  /** A database at V1 with USERS users, replicated, and the V2 app's DataSource on the primary. */
  async function v1Database(extra: Record<string, unknown> = {}): Promise<{ db: PgClusterDatabase; upgrader: DataSource }> {
    const db = new PgClusterDatabase();
    databases.push(db);
    await db.create();
    await withPgAt(withDatabase(PG_PRIMARY_URL, db.name), (c) => c.query(`CREATE EXTENSION IF NOT EXISTS pgcrypto`));
    const v1 = await db.dataSource({ url: PG_PRIMARY_URL }, { entities: [...APPS[1]], migrations: MIGRATIONS[1], ...extra });
    await v1.runMigrations({ transaction: "all" });
    await fillV1(v1, USERS);
    await v1.destroy();
    const upgrader = await db.dataSource({ url: PG_PRIMARY_URL }, { entities: [...APPS[2]], migrations: MIGRATIONS[2], ...extra });
    await replicaCaughtUp();
    return { db, upgrader };
  }

  it("with replay paused the backfill waits (and says so) from its first batches on; resumed, it completes, and the replica has every token", async () => {
    const { db, upgrader } = await v1Database();
    const events: OnlineUpgradeProgress[] = [];
    await pauseReplica();
    const running = upgradeOnline(upgrader, { batchMs: 5, maxReplicaLagMs: 50, complete: true, onProgress: (p) => void events.push(p) });
    // Long enough for the whole backfill to end many times over without the guard (next test).
    await sleep(4000);
    const waits = events.filter((e) => e.event === "wait");
    expect(waits.length).toBeGreaterThan(0);
    expect(waits[0]).toMatchObject({ phase: "backfill", message: expect.stringMatching(/^waiting for 1 standby\(s\): \d+ ms behind/) });
    expect(waits[0].replicaLagMs).toBeGreaterThan(50);
    const whilePaused = await tokened(PG_PRIMARY_URL, db.name);
    expect(whilePaused).toBeLessThan(USERS); // stopped part way
    await replicaLacksColumn(db.name);
    await resumeReplica();
    const plan = await running;
    expect(plan.done).toBe(true);
    await replicaCaughtUp();
    expect(await tokened(PG_REPLICA_URL, db.name)).toBe(USERS);
    const [row] = await upgrader.query(`SELECT count(DISTINCT fs_token_uniquifier)::int AS n FROM "user"`);
    expect(row.n).toBe(USERS);
  });

  it("maxReplicaLagMs: false runs the backfill to its end while the replica stays paused", async () => {
    const { db, upgrader } = await v1Database();
    const events: OnlineUpgradeProgress[] = [];
    await pauseReplica();
    const plan = await upgradeOnline(upgrader, {
      batchMs: 5,
      maxReplicaLagMs: false,
      complete: true,
      onProgress: (p) => void events.push(p),
    });
    expect(plan.done).toBe(true);
    expect(events.filter((e) => e.event === "wait")).toEqual([]);
    expect(await tokened(PG_PRIMARY_URL, db.name)).toBe(USERS);
    await replicaLacksColumn(db.name);
  });

  it("a role that cannot read the standbys' positions: refused before any change when it set maxReplicaLagMs, told and not held up otherwise", async () => {
    const role = `tsm_nomon_${process.pid}`;
    await withPgAt(PG_PRIMARY_URL, (c) => c.query(`DROP ROLE IF EXISTS ${role}; CREATE ROLE ${role} LOGIN`));
    try {
      const { db, upgrader } = await v1Database();
      // The role owns the database (so PostgreSQL 15's public schema) and its tables, and is no superuser.
      await withPgAt(withDatabase(PG_PRIMARY_URL, db.name), async (c) => {
        await c.query(`ALTER DATABASE ${db.name} OWNER TO ${role}`);
        const { rows } = await c.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`);
        for (const { tablename } of rows) await c.query(`ALTER TABLE "${tablename}" OWNER TO ${role}`);
      });
      await upgrader.destroy();
      const url = new URL(withDatabase(PG_PRIMARY_URL, db.name));
      url.username = role;
      const asRole = await db.dataSource({ url: url.toString() }, { entities: [...APPS[2]], migrations: MIGRATIONS[2] });
      await expect(upgradeOnline(asRole, { batchMs: 5, maxReplicaLagMs: 500 })).rejects.toMatchObject({
        field: "maxReplicaLagMs",
        rule: "replica-lag-unseen",
      });
      expect(await tokened(PG_PRIMARY_URL, db.name)).toBe(0); // the backfill did not begin
      const events: OnlineUpgradeProgress[] = [];
      const plan = await upgradeOnline(asRole, { batchMs: 5, complete: true, onProgress: (p) => void events.push(p) });
      expect(plan.done).toBe(true);
      expect(events.filter((e) => e.event === "wait").map((e) => e.message)).toEqual([
        expect.stringMatching(/cannot read their replay position \(grant it pg_monitor\): the backfill does not wait for them/),
      ]);
      await asRole.destroy();
    } finally {
      await withPgAt(PG_PRIMARY_URL, async (c) => {
        for (const db of databases) await c.query(`DROP DATABASE IF EXISTS ${db.name} WITH (FORCE)`);
        await c.query(`DROP ROLE IF EXISTS ${role}`);
      });
    }
  });
});

describeOn("galera", "online upgrade, replica guard", () => {
  const db = new GaleraDatabase();
  afterAll(() => db.drop());

  it("a node that stops applying (LOCK TABLES) pauses the cluster: the backfill waits for flow control to stay off, then completes with a distinct token for every user", async () => {
    await db.create();
    const v1 = await db.dataSource(0, { entities: [...APPS[1]], migrations: MIGRATIONS[1] });
    await v1.runMigrations({ transaction: "all" });
    // Enough users for many more batches (each one writeset) than node 3's flow-control limit (gcs.fc_limit,
    // 16 by default): with 3,000 a fast machine's batches grew to a few writesets in all, and the cluster never paused.
    await fillV1(v1, USERS);
    const upgrader = await db.dataSource(0, { entities: [...APPS[2]], migrations: MIGRATIONS[2] });
    // Node 3 holds a table lock its appliers must wait for: its receive queue grows, flow control pauses node 1.
    const blocker = await createConnection({ uri: withDatabase(GALERA_URLS[2], db.name) });
    const events: OnlineUpgradeProgress[] = [];
    let released: Promise<void> = Promise.resolve();
    let galeraWaited = () => {};
    const galeraWait = new Promise<void>((resolve) => (galeraWaited = resolve));
    const plan = await upgradeOnline(upgrader, {
      batchMs: 5,
      maxReplicaLagMs: 300,
      complete: true,
      onProgress: async (progress) => {
        events.push(progress);
        if (progress.event === "wait" && progress.message.startsWith("waiting for Galera")) galeraWaited();
        if (progress.event === "start" && progress.phase === "backfill") {
          await blocker.query(`LOCK TABLES user READ`);
          // Held until the backfill says it waits for the cluster (a fixed 2 s was sometimes spent waiting for
          // room in the nodes' small redo logs instead, and the cluster never paused), at most 30 s.
          released = Promise.race([galeraWait.then(() => sleep(1000)), sleep(30_000)]).then(
            async () => void (await blocker.query(`UNLOCK TABLES`)),
          );
        }
      },
    });
    await released;
    await blocker.end();
    expect(plan.done).toBe(true);
    // The nodes' redo logs are small (48 MB, .ci/clusters): the backfill may also wait for InnoDB, before or
    // after; every wait is one of the two, and at least one is Galera's.
    const waits = events.filter((e) => e.event === "wait");
    for (const wait of waits) expect(wait.message).toMatch(/^waiting for (Galera, 3 nodes: \d+ ms behind|InnoDB to write out pages)/);
    expect(waits.find((e) => e.message.startsWith("waiting for Galera"))).toMatchObject({
      phase: "backfill",
      message: expect.stringMatching(/^waiting for Galera, 3 nodes: \d+ ms behind/),
    });
    const other = await db.dataSource(2, { entities: [...APPS[2]] });
    const [row] = await other.query(`SELECT COUNT(DISTINCT fs_token_uniquifier) AS n FROM user`);
    expect(Number(row.n)).toBe(USERS);
  });
});
