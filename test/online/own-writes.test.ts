/**
 * PostgreSQL: how the online upgrade's own session writes. It has the kernel write out the pages it dirties as
 * it goes (`backend_flush_after`, any role may set it), so they never pile up in the page cache and go out at
 * once while sign-ins wait for their WAL flush (bench/RESULTS.md). And it compresses the full-page images its own session writes to the WAL (the
 * backfill's and the index builds'), which are most of what it writes (bench/RESULTS.md). The setting needs superuser or
 * `GRANT SET ON PARAMETER wal_compression`: the upgrade uses it when it may, never leaves it on the app's pooled
 * connection, and runs to the end without it for a role that may not set it (the usual owner of an app's
 * tables).
 */
import { DataSource } from "typeorm";
import { planOnlineUpgrade, upgradeOnline } from "../../src";
import type { OnlineUpgradePlan } from "../../src";
import { OnlineSession } from "../../src/online/session";
import { fillV1 } from "../fixtures/v1-users";
import { databaseOptions, describeOnDatabase, withPg } from "../support/database";
import { PG_URL } from "../support/servers";
import { APPS, MIGRATIONS } from "./support/apps";

const GUARDS = { lockTimeoutMs: 50, attempts: 20, lockWaitMs: 5_000 };

/** The server's own default for a setting, as a fresh connection sees it. */
async function serverDefault(
  setting: "wal_compression" | "backend_flush_after" | "max_parallel_workers_per_gather" | "max_parallel_maintenance_workers",
): Promise<string> {
  return withPg(async (c) => (await c.query(`SHOW ${setting}`)).rows[0][setting] as string);
}

describeOnDatabase("postgres", "online upgrade: how its own session writes", (db) => {
  it("a superuser's upgrade session compresses its WAL (lz4, or pglz where lz4 is not built in); the pooled connection gets the server's setting back", async () => {
    const ds = await db.dataSource([...APPS[1]], { poolSize: 1 }); // one connection: the session's is the app's afterwards
    const session = await OnlineSession.open(ds, GUARDS);
    expect(["lz4", "pglz"]).toContain(session.walCompression);
    expect(await session.query(`SHOW wal_compression`)).toEqual([{ wal_compression: session.walCompression }]);
    await session.close();
    expect(await ds.query(`SHOW wal_compression`)).toEqual([{ wal_compression: await serverDefault("wal_compression") }]);
  });

  it("the upgrade session has its dirtied pages written out every 256 kB; the pooled connection gets the server's setting back", async () => {
    const ds = await db.dataSource([...APPS[1]], { poolSize: 1 });
    const server = await serverDefault("backend_flush_after");
    expect(server).not.toBe("256kB"); // else this test would prove nothing
    const session = await OnlineSession.open(ds, GUARDS);
    expect(session.flushesEarly).toBe(true);
    expect(await session.query(`SHOW backend_flush_after`)).toEqual([{ backend_flush_after: "256kB" }]);
    await session.close();
    expect(await ds.query(`SHOW backend_flush_after`)).toEqual([{ backend_flush_after: server }]);
  });

  it("the upgrade session scans and builds indexes in its own process, no parallel workers (they took the cores the app's sign-ins wait for); the pooled connection gets the server's settings back", async () => {
    const ds = await db.dataSource([...APPS[1]], { poolSize: 1 });
    await ds.query(`CREATE TABLE scanned AS SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 100000) g`);
    await ds.query(`ANALYZE scanned`);
    // Parallel plans made cheap on this connection (a table of a million users needs no such help).
    await ds.query(`SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0`);
    const plan = async (on: { query: (sql: string) => Promise<Array<{ "QUERY PLAN": string }>> }) =>
      (await on.query(`EXPLAIN SELECT id, count(*) FROM scanned GROUP BY id HAVING count(*) > 1`))
        .map((row) => row["QUERY PLAN"])
        .join("\n");
    const defaults = {
      gather: await serverDefault("max_parallel_workers_per_gather"),
      maintenance: await serverDefault("max_parallel_maintenance_workers"),
    };
    expect(Number(defaults.gather)).toBeGreaterThan(0); // else this test would prove nothing
    expect(await plan(ds)).toContain("Gather");

    const session = await OnlineSession.open(ds, GUARDS);
    expect(await plan(session)).not.toContain("Gather");
    expect(await session.query(`SHOW max_parallel_maintenance_workers`)).toEqual([{ max_parallel_maintenance_workers: "0" }]);
    await session.close();
    expect(await plan(ds)).toContain("Gather");
    expect(await ds.query(`SHOW max_parallel_maintenance_workers`)).toEqual([{ max_parallel_maintenance_workers: defaults.maintenance }]);
  });

  it("a role that may not set it (the owner of the app's tables, no superuser) upgrades V1 to V2 online without it", async () => {
    const name = `${db.name}_owned`;
    const OWNER = `${db.name}_owner`; // per test database: runs side by side do not share it
    await withPg(async (c) => {
      await c.query(`CREATE ROLE ${OWNER} LOGIN NOSUPERUSER`);
      await c.query(`CREATE DATABASE ${name} OWNER ${OWNER}`);
    });
    const url = new URL(PG_URL);
    url.username = OWNER;
    url.pathname = `/${name}`;
    const open = (version: 1 | 2) =>
      new DataSource({
        ...databaseOptions("postgres", name, [...APPS[version]], { migrations: MIGRATIONS[version] }),
        url: url.toString(),
      } as never).initialize();
    try {
      const v1 = await open(1);
      await v1.runMigrations({ transaction: "all" });
      await fillV1(v1, 300);
      await v1.destroy();

      const v2 = await open(2);
      const session = await OnlineSession.open(v2, GUARDS);
      expect(session.walCompression).toBeNull();
      expect(session.flushesEarly).toBe(true); // any role may set backend_flush_after
      expect(await session.query(`SHOW backend_flush_after`)).toEqual([{ backend_flush_after: "256kB" }]);
      expect(await session.query(`SHOW max_parallel_workers_per_gather`)).toEqual([{ max_parallel_workers_per_gather: "0" }]); // nor these
      await session.close();
      // The plan says so, and how to change it; a superuser's plan on the same database says it compresses.
      const backfill = (plan: OnlineUpgradePlan) => plan.phases.find((phase) => phase.phase === "backfill")!.description;
      expect(backfill(await planOnlineUpgrade(v2))).toContain(
        "WAL not compressed (this role may not set wal_compression: GRANT SET ON PARAMETER",
      );
      const superuser = await new DataSource(databaseOptions("postgres", name, [...APPS[2]], { migrations: MIGRATIONS[2] })).initialize();
      expect(backfill(await planOnlineUpgrade(superuser))).toMatch(/its WAL compressed \((lz4|pglz)\)/);
      await superuser.destroy();

      const plan = await upgradeOnline(v2, { complete: true, batchMs: 5 });
      expect(plan).toMatchObject({ fromVersion: 1, toVersion: 2, done: true });
      const [counts] = await v2.query(`SELECT COUNT(*)::int AS users, COUNT(DISTINCT fs_token_uniquifier)::int AS tokens FROM "user"`);
      expect(counts).toEqual({ users: 300, tokens: 300 });
      await v2.destroy();
    } finally {
      await withPg(async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await c.query(`DROP ROLE IF EXISTS ${OWNER}`);
      });
    }
  });
});
