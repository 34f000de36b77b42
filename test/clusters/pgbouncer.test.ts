/**
 * PgBouncer in transaction pooling in front of the primary: each transaction gets whichever server connection
 * is free, so nothing a session sets survives unless PgBouncer carries it. The process runs in New York and
 * so does the server's default zone, and other clients that never set a zone share the server connections:
 * datetimes must still be naive UTC. Also the shipped migrations up and down, sign-up duplicate checks under
 * concurrency, and the reliability suite's load through it.
 */
import { Client } from "pg";
import type { DataSource } from "typeorm";
import { OnlineUpgradeError, planOnlineUpgrade, SecurityDatastore, securitySchemaStatus, upgradeOnline } from "../../src";
import { APPS, MIGRATIONS } from "../online/support/apps";
import { fillV1 } from "../fixtures/v1-users";
import { databaseDump } from "../support/dump";
import { securityMigrationsV3 } from "../../migrations";
import { appAddDisplayName } from "../fixtures/app-migrations";
import * as V3 from "../fixtures/app-v3";
import { Role, User } from "../fixtures/app-v2";
import { countFrom, recordFigures, seededRandom, seedFrom } from "../reliability/support/figures";
import { conflictCounter, LoadState, NOTHING_WRONG } from "../reliability/support/load";
import { describeOn, PG_PRIMARY_URL, PGBOUNCER_URL, PgClusterDatabase, withDatabase, withPgAt } from "./support/clusters";

const HASH = "$2b$12$bouncer-test-hash-bouncer-test-hash-bouncer-test-hash-bo";
const OPS = countFrom("TSM_LOAD_OPS", 1200);
const USERS = countFrom("TSM_LOAD_USERS", 200);

describeOn("pgbouncer", "PgBouncer, transaction pooling", () => {
  const db = new PgClusterDatabase();
  let ds: DataSource;
  let store: SecurityDatastore<User, Role>;
  const conflicts = conflictCounter();

  beforeAll(async () => {
    expect(new Date(2024, 0, 2).getTimezoneOffset()).not.toBe(0); // the process is away from UTC
    await db.create();
    ds = await db.dataSource({ url: PGBOUNCER_URL }, { entities: [User, Role], synchronize: true, poolSize: 30, logger: conflicts.logger });
    store = new SecurityDatastore(ds, User, Role);
  });
  afterAll(() => db.drop());

  it("datetimes stay naive UTC while clients that never set a zone share the server connections", async () => {
    // Clients in the server's zone (New York), as another app behind the same PgBouncer, kept busy meanwhile.
    const others = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const client = new Client({ connectionString: withDatabase(PGBOUNCER_URL, db.name) });
        await client.connect();
        return client;
      }),
    );
    let busy = true;
    const zonesSeen = new Set<string>();
    const noise = others.map(async (client) => {
      while (busy) zonesSeen.add((await client.query(`SELECT current_setting('TimeZone') AS tz, pg_sleep(0.002)`)).rows[0].tz);
    });
    try {
      const at = new Date("2024-01-02T03:04:05.678Z");
      const users = await Promise.all(
        Array.from({ length: 40 }, (_, i) => store.createUser({ email: `tz${i}@example.com`, password: HASH })),
      );
      await Promise.all(users.map((u) => store.recordLogin(u, "10.0.0.1", at)));
      const ours = await Promise.all(Array.from({ length: 40 }, () => ds.query(`SELECT current_setting('TimeZone') AS tz`)));
      expect(new Set(ours.map(([row]) => row.tz))).toEqual(new Set(["UTC"]));

      // What is stored, read on the primary itself: the UTC wall clock, for the value given and for now().
      const stored = await withPgAt(withDatabase(PG_PRIMARY_URL, db.name), async (c) => {
        await c.query(`SET TIME ZONE 'UTC'`);
        return (
          await c.query(
            `SELECT to_char(current_login_at, 'YYYY-MM-DD HH24:MI:SS.MS') AS login,
                    abs(extract(epoch FROM (create_datetime - (now() AT TIME ZONE 'UTC')))) AS created_seconds_ago
             FROM "user" WHERE email LIKE 'tz%'`,
          )
        ).rows;
      });
      expect(stored).toHaveLength(40);
      expect(new Set(stored.map((r) => r.login))).toEqual(new Set(["2024-01-02 03:04:05.678"]));
      expect(Math.max(...stored.map((r) => Number(r.created_seconds_ago)))).toBeLessThan(120);
      const reloaded = await store.findUserByEmail("tz0@example.com");
      expect(reloaded!.currentLoginAt!.toISOString()).toBe(at.toISOString());
      expect(Math.abs(reloaded!.createDatetime.getTime() - Date.now())).toBeLessThan(120000);
    } finally {
      busy = false;
      await Promise.all(noise);
      await Promise.all(others.map((c) => c.end()));
    }
    expect(zonesSeen).toEqual(new Set(["America/New_York"])); // and ours never leaked into theirs
  });

  it("concurrent sign-ups of one email in different letter cases: exactly one succeeds (V3)", async () => {
    const v3db = new PgClusterDatabase();
    await v3db.create();
    try {
      // The migrations, not synchronize: V3's unique index on lower(email) is theirs.
      const migrations = [...securityMigrationsV3, appAddDisplayName("user")];
      const v3 = await v3db.dataSource({ url: PGBOUNCER_URL }, { entities: [V3.User, V3.Role, V3.WebAuthn], migrations, poolSize: 20 });
      await v3.runMigrations({ transaction: "all" });
      const v3store = new SecurityDatastore(v3, V3.User, V3.Role);
      for (let round = 0; round < 5; round++) {
        const results = await Promise.allSettled(
          ["Eve", "EVE", "eve", "eVe", "evE", "EVe"].map((name) =>
            v3store.createUser({ email: `${name}${round}@example.com`, password: HASH }),
          ),
        );
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        for (const r of results) if (r.status === "rejected") expect(r.reason).toMatchObject({ field: "email", rule: "duplicate" });
      }
    } finally {
      await v3db.drop();
    }
  });

  it("the shipped migrations run up and down through it, and status sees no drift", async () => {
    const fresh = new PgClusterDatabase();
    await fresh.create();
    try {
      const migrations = [...securityMigrationsV3, appAddDisplayName("user")];
      const v3 = await fresh.dataSource({ url: PGBOUNCER_URL }, { entities: [V3.User, V3.Role, V3.WebAuthn], migrations });
      expect(await v3.runMigrations({ transaction: "all" })).toHaveLength(migrations.length);
      expect(await securitySchemaStatus(v3)).toMatchObject({ family: "ours", version: 3, pendingMigrations: [], drift: [], ok: true });
      for (let i = 0; i < migrations.length; i++) await v3.undoLastMigration({ transaction: "each" });
      expect((await securitySchemaStatus(v3)).family).toBe("empty");
      expect(await v3.runMigrations({ transaction: "each" })).toHaveLength(migrations.length);
      expect((await securitySchemaStatus(v3)).ok).toBe(true);
    } finally {
      await fresh.drop();
    }
  });

  it("an online upgrade through it is refused before any change, naming the pooler; the same DataSource on the primary runs it", async () => {
    const fresh = new PgClusterDatabase();
    await fresh.create();
    try {
      await withPgAt(withDatabase(PG_PRIMARY_URL, fresh.name), (c) => c.query(`CREATE EXTENSION IF NOT EXISTS pgcrypto`));
      const v1 = await fresh.dataSource({ url: PG_PRIMARY_URL }, { entities: [...APPS[1]], migrations: MIGRATIONS[1] });
      await v1.runMigrations({ transaction: "all" });
      await fillV1(v1, 200);
      const before = await databaseDump(v1, "postgres");
      const options = { entities: [...APPS[2]], migrations: MIGRATIONS[2] };
      const pooled = await fresh.dataSource({ url: PGBOUNCER_URL }, options);
      for (const attempt of [() => upgradeOnline(pooled, { complete: true }), () => planOnlineUpgrade(pooled)]) {
        const refused = await attempt().catch((error: unknown) => error);
        expect(refused).toBeInstanceOf(OnlineUpgradeError);
        expect(refused).toMatchObject({ rule: "transaction-pooler" });
        expect((refused as Error).message).toMatch(
          /pooler in transaction mode, such as PgBouncer.*connects to\s+PostgreSQL itself.*Nothing was changed/s,
        );
      }
      expect(await databaseDump(v1, "postgres")).toEqual(before);
      // Nothing of ours is left on the server sessions PgBouncer shares: the app's transactions see the defaults.
      const settings = await pooled.query(`SELECT current_setting('lock_timeout') AS l, current_setting('backend_flush_after') AS f`);
      expect(settings).toEqual([{ l: "0", f: "0" }]);
      const direct = await fresh.dataSource({ url: PG_PRIMARY_URL }, options);
      expect(await upgradeOnline(direct, { complete: true, batchMs: 5 })).toMatchObject({ fromVersion: 1, toVersion: 2, done: true });
      expect(await securitySchemaStatus(pooled)).toMatchObject({ version: 2, drift: [], ok: true });
    } finally {
      await fresh.drop();
    }
  });

  it(`the reliability load: ${OPS} concurrent operations on ${USERS} users lose nothing`, async () => {
    const seed = seedFrom("TSM_LOAD_SEED", "load [pgbouncer]");
    const load = await LoadState.create(store, USERS);
    const seconds = await load.run(OPS, 40, seededRandom(seed), () => store);
    expect(load.failures.map(({ error: e }) => `${(e as Error).name}: ${(e as Error).message}`)).toEqual([]);
    const found = await load.check(ds, store);
    expect(found).toEqual(NOTHING_WRONG);
    recordFigures("clusters-load", "pgbouncer", {
      seed,
      operations: OPS,
      users: USERS,
      concurrency: 40,
      pool: 30,
      seconds,
      conflictsRetried: conflicts.count(),
      failedOperations: load.failures.length,
    });
  });
});
