/**
 * The online upgrades (V1 to V2, V2 to V3, V3 to V4) under a rolling deploy: while each phase runs, an app instance on
 * the old entity version and (from the end of `expand`, when its columns exist) one on the new version sign
 * users in and up through the datastore. Afterwards: every user (old ones, and those either version created
 * during the upgrade) has a distinct token; every pre-existing value is unchanged and every sign-in counted;
 * the schema is exactly what the offline migration leaves (same fingerprint of tables, columns, types,
 * indexes, constraints and recorded migrations), TypeORM's schema builder wants nothing, `migration:run`
 * has nothing to do and `migration:revert` works.
 */
import { DataSource } from "typeorm";
import {
  MigrationBlockedError,
  OnlineUpgradeBusyError,
  OnlineUpgradeError,
  planOnlineUpgrade,
  SecurityDatastore,
  upgradeOnline,
} from "../../src";
import type { OnlineUpgradeProgress } from "../../src";
import * as v1 from "../fixtures/app-v1";
import { fillV1 } from "../fixtures/v1-users";
import { describeEachDatabase, TestDatabase } from "../support/database";
import { V1_USER_COLUMNS } from "../support/population";
import { schemaFingerprint } from "../reliability/support/snapshots";
import { AppLoad } from "./support/app-load";
import { APPS, MIGRATIONS } from "./support/apps";

const USERS = 1_000;
type Version = keyof typeof APPS;
/** Phases in which the new app version does not run yet: its tables or columns are made by them. */
const BEFORE_NEW_APP = ["check", "expand", "create"];
const SIGNED_IN = Array.from({ length: 20 }, (_, i) => `user${i * 7}@example.com`);
const LOGIN_COLUMNS = ["last_login_at", "current_login_at", "last_login_ip", "current_login_ip", "login_count", "update_datetime"];

async function drift(ds: DataSource): Promise<string[]> {
  return (await ds.driver.createSchemaBuilder().log()).upQueries.map((q) => q.query);
}

/** The users' rows (given columns), by id, as text. */
async function dumpUsers(ds: DataSource, columns: readonly string[]): Promise<Array<Record<string, unknown>>> {
  const rows: Array<Record<string, unknown>> = await ds.query(
    `SELECT ${columns.map((c) => ds.driver.escape(c)).join(", ")} FROM ${ds.driver.escape("user")} ORDER BY ${ds.driver.escape("id")}`,
  );
  return rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : String(v)])));
}

async function tokenCounts(ds: DataSource, column: string) {
  const [row] = await ds.query(
    `SELECT COUNT(*) AS users, COUNT(${column}) AS filled, COUNT(DISTINCT ${column}) AS distinct_ FROM ${ds.driver.escape("user")}`,
  );
  return { users: Number(row.users), filled: Number(row.filled), distinct: Number(row.distinct_) };
}

describeEachDatabase("online upgrade", (db: TestDatabase) => {
  /** A second database upgraded offline, for the reference fingerprints. */
  const offline = new TestDatabase(db.kind);
  const opened: DataSource[] = [];
  const open = async (target: TestDatabase, version: Version) => {
    const ds = new DataSource(target.options([...APPS[version]], { migrations: MIGRATIONS[version] }));
    await ds.initialize();
    opened.push(ds);
    return ds;
  };
  const fingerprints = new Map<number, string>();
  /** `work` on a database of its own at V1 with `users` users, dropped afterwards with every DataSource opened on it. */
  async function onFreshV1(users: number, work: (v1ds: DataSource, v1db: TestDatabase) => Promise<void>): Promise<void> {
    const v1db = new TestDatabase(db.kind);
    await v1db.create();
    const openedBefore = opened.length;
    try {
      const v1ds = await open(v1db, 1);
      await v1ds.runMigrations({ transaction: "all" });
      await fillV1(v1ds, users);
      await work(v1ds, v1db);
    } finally {
      for (const ds of opened.slice(openedBefore)) if (ds.isInitialized) await ds.destroy();
      await v1db.drop();
    }
  }
  /** Every app instance started, stopped at the end even when a test failed half way. */
  const loads: AppLoad[] = [];

  beforeAll(async () => {
    await offline.create();
    for (const target of [db, offline]) {
      const ds = await open(target, 1);
      await ds.runMigrations({ transaction: "all" });
      await fillV1(ds, USERS);
    }
    const reference = await open(offline, 1);
    fingerprints.set(1, await schemaFingerprint(reference, db.kind));
    for (const version of [2, 3, 4] as const) {
      const ds = await open(offline, version);
      await ds.runMigrations({ transaction: "all" });
      fingerprints.set(version, await schemaFingerprint(ds, db.kind));
    }
  });

  afterAll(async () => {
    for (const load of loads) await load.stop();
    for (const ds of opened) if (ds.isInitialized) await ds.destroy();
    await offline.drop();
  });

  /**
   * Runs the online upgrade to `to` while an old-version and a new-version app instance work, and checks what
   * both did in every phase.
   */
  async function upgradeUnderLoad(to: 2 | 3 | 4, workers = 1) {
    const from = (to - 1) as 1 | 2 | 3;
    let phase = "before";
    const oldApp = new AppLoad(`v${from}-app-${to}`, await open(db, from), APPS[from][0], APPS[from][1], SIGNED_IN, () => phase);
    const newApp = new AppLoad(`v${to}-app-${to}`, await open(db, to), APPS[to][0], APPS[to][1], SIGNED_IN, () => phase);
    loads.push(oldApp, newApp);
    const upgrader = await open(db, to);
    const before = await dumpUsers(upgrader, V1_USER_COLUMNS);
    const phases: string[] = [];
    const onProgress = async (progress: OnlineUpgradeProgress) => {
      if (progress.event === "start") {
        phase = progress.phase;
        phases.push(phase);
        // Both versions work in this phase before it does its own work (and on, while it does).
        await oldApp.waitForWork(phase);
        if (!BEFORE_NEW_APP.includes(phase)) await newApp.waitForWork(phase);
      } else if (progress.event === "done" && (progress.phase === "expand" || progress.phase === "create")) {
        newApp.start(); // the new version's columns and tables exist from here on
      }
    };
    oldApp.start();
    const ready = await upgradeOnline(upgrader, { batchMs: 5, workers, onProgress });
    expect(ready.readyForNewVersion).toBe(true);
    expect(ready.done).toBe(false);
    // Between the phases: the new version is deployed everywhere, so the old one signs no one up any more.
    phase = "deployed";
    await oldApp.waitForWork(phase);
    await newApp.waitForWork(phase);
    oldApp.signUps = false;
    const done = await upgradeOnline(upgrader, { complete: true, onProgress });
    expect(done.done).toBe(true);
    phase = "after";
    await newApp.waitForWork(phase);
    await oldApp.stop();
    await newApp.stop();

    expect([...oldApp.failures, ...newApp.failures]).toEqual([]);
    const expected =
      to === 4
        ? ["create", "complete"]
        : ["check", "expand", "backfill", "indexes", ...(db.kind === "postgres" && to === 2 ? ["not-null"] : []), "complete"];
    expect(phases).toEqual(expected);
    for (const p of [...expected, "deployed"]) {
      expect({ phase: p, old: oldApp.in(p).signIns > 0 }).toEqual({ phase: p, old: true });
      if (p !== "complete") expect({ phase: p, old: oldApp.in(p).signUps > 0 }).toEqual({ phase: p, old: true });
      if (!BEFORE_NEW_APP.includes(p))
        expect({ phase: p, new: newApp.in(p).signIns > 0 && newApp.in(p).signUps > 0 }).toEqual({ phase: p, new: true });
    }

    // Every value that was there is still there; every sign-in of the two versions is counted.
    const after = await dumpUsers(upgrader, V1_USER_COLUMNS);
    const signedIn = new Set(SIGNED_IN);
    const withoutLogins = (rows: typeof before) =>
      rows.map((r) =>
        signedIn.has(String(r.email)) ? Object.fromEntries(Object.entries(r).filter(([k]) => !LOGIN_COLUMNS.includes(k))) : r,
      );
    expect(withoutLogins(after.slice(0, before.length))).toEqual(withoutLogins(before));
    for (const email of SIGNED_IN) {
      const was = Number(before.find((r) => r.email === email)!.login_count);
      const now = Number(after.find((r) => r.email === email)!.login_count);
      expect({ email, logins: now - was }).toEqual({ email, logins: (oldApp.logins.get(email) ?? 0) + (newApp.logins.get(email) ?? 0) });
    }
    const createdEmails = new Set(after.map((r) => r.email));
    for (const email of [...oldApp.created, ...newApp.created]) expect(createdEmails.has(email)).toBe(true);
    return { oldApp, newApp, upgrader };
  }

  it("V1 to V2 online: both app versions sign in and up in every phase; every user gets a distinct token; the schema is the offline one's", async () => {
    const { oldApp, upgrader } = await upgradeUnderLoad(2);
    expect(oldApp.created.length).toBeGreaterThan(0);
    const tokens = await tokenCounts(upgrader, "fs_token_uniquifier");
    expect(tokens).toEqual({ users: tokens.users, filled: tokens.users, distinct: tokens.users });
    expect(await schemaFingerprint(upgrader, db.kind)).toBe(fingerprints.get(2));
    expect(await drift(upgrader)).toEqual([]);
    expect(await upgrader.runMigrations({ transaction: "all" })).toEqual([]);
    // The old version cannot sign up any more: the column is NOT NULL without a default, as after the offline path.
    const old = new AppLoad("v1-late", await open(db, 1), v1.User, v1.Role, SIGNED_IN, () => "late");
    await expect(old.store.createUser({ email: "late@example.com", password: "$2b$12$hash" } as never)).rejects.toThrow();
  });

  it("V1 to V2: migration:revert after the online path brings back V1 exactly; online again completes", async () => {
    const upgrader = await open(db, 2);
    await upgrader.undoLastMigration({ transaction: "all" });
    expect(await schemaFingerprint(upgrader, db.kind)).toBe(fingerprints.get(1));
    const plan = await planOnlineUpgrade(upgrader);
    expect(plan.phases.every((p) => !p.done || p.phase === "check")).toBe(true);
    // When the backfill begins no old user has a token yet (MariaDB: the '' placeholder, elsewhere NULL), and
    // a token uniquifier of '' finds no user: a token minted from a placeholder opens no account.
    const store = new SecurityDatastore(upgrader, APPS[2][0], APPS[2][1]);
    let placeholders = -1;
    let foundByEmpty: unknown = "not asked";
    await upgradeOnline(upgrader, {
      complete: true,
      onProgress: async (progress) => {
        if (progress.event !== "start" || progress.phase !== "backfill") return;
        const [row] = await upgrader.query(
          `SELECT COUNT(*) AS n FROM ${upgrader.driver.escape("user")} WHERE fs_token_uniquifier IS NULL OR fs_token_uniquifier = ''`,
        );
        placeholders = Number(row.n);
        foundByEmpty = await store.findUserByTokenUniquifier("");
      },
    });
    expect(placeholders).toBeGreaterThanOrEqual(USERS);
    expect(foundByEmpty).toBeNull();
    expect(await schemaFingerprint(upgrader, db.kind)).toBe(fingerprints.get(2));
  });

  it("V2 to V3 online, 3 backfill workers: both app versions sign in and up in every phase; every user gets a distinct WebAuthn handle; the schema is the offline one's", async () => {
    const { upgrader } = await upgradeUnderLoad(3, 3);
    const handles = await tokenCounts(upgrader, "fs_webauthn_user_handle");
    expect(handles).toEqual({ users: handles.users, filled: handles.users, distinct: handles.users });
    expect(await schemaFingerprint(upgrader, db.kind)).toBe(fingerprints.get(3));
    expect(await drift(upgrader)).toEqual([]);
    expect(await upgrader.runMigrations({ transaction: "all" })).toEqual([]);
    await upgrader.undoLastMigration({ transaction: "all" });
    expect(await schemaFingerprint(upgrader, db.kind)).toBe(fingerprints.get(2));
    await upgradeOnline(upgrader, { complete: true });
    expect(await schemaFingerprint(upgrader, db.kind)).toBe(fingerprints.get(3));
  });

  it("V3 to V4 online: a table-only step (create, complete) while both app versions work; the schema is the offline one's; down and again", async () => {
    const { upgrader } = await upgradeUnderLoad(4);
    expect(await schemaFingerprint(upgrader, db.kind)).toBe(fingerprints.get(4));
    expect(await drift(upgrader)).toEqual([]);
    expect(await upgrader.runMigrations({ transaction: "all" })).toEqual([]);
    // The new table works, with its foreign key to the user table: a tracker of a user no one has is refused.
    const [user] = await upgrader.query(`SELECT MIN(id) AS id, MAX(id) AS last FROM ${upgrader.driver.escape("user")}`);
    const trackers = upgrader.getRepository(APPS[4][3]);
    const tracker = (family: string, userId: number) =>
      trackers.create({ refreshFamily: family, name: "web", expiresAt: new Date(), lastUsedAt: new Date(), userId } as never);
    await trackers.insert(tracker("f".repeat(64), Number(user.id)));
    await expect(trackers.insert(tracker("e".repeat(64), Number(user.last) + 1000))).rejects.toThrow();
    expect(await trackers.count()).toBe(1);
    await upgrader.undoLastMigration({ transaction: "all" });
    expect(await schemaFingerprint(upgrader, db.kind)).toBe(fingerprints.get(3));
    const plan = await planOnlineUpgrade(upgrader);
    expect(plan).toMatchObject({ fromVersion: 3, toVersion: 4, done: false, readyForNewVersion: false });
    expect(plan.phases.map((p) => [p.phase, p.done])).toEqual([
      ["create", false],
      ["complete", false],
    ]);
    expect(plan.phases[0].statements.join("\n")).toMatch(/CREATE TABLE[^]*fs_refresh_tracker[^]*REFERENCES/);
    const ready = await upgradeOnline(upgrader);
    expect(ready).toMatchObject({ readyForNewVersion: true, done: false });
    await upgradeOnline(upgrader, { complete: true });
    expect(await schemaFingerprint(upgrader, db.kind)).toBe(fingerprints.get(4));
  });

  if (db.kind === "postgres")
    it("V3 to V4 on PostgreSQL: the foreign key's lock on the user table waits at most lockTimeoutMs behind a long transaction, and is tried again", async () => {
      const upgrader = await open(db, 4);
      await upgrader.undoLastMigration({ transaction: "all" });
      const holder = upgrader.createQueryRunner();
      await holder.connect();
      await holder.query(`BEGIN`);
      // A long write transaction on the user table (a user no one signs in here): its ROW EXCLUSIVE lock conflicts
      // with the key's SHARE ROW EXCLUSIVE.
      await holder.query(`UPDATE "user" SET login_count = login_count WHERE email = 'user1@example.com'`);
      const retries: string[] = [];
      let signInsWhileWaiting = 0;
      const reader = new SecurityDatastore(upgrader, APPS[4][0], APPS[4][1]);
      const upgrade = upgradeOnline(upgrader, {
        complete: true,
        lockTimeoutMs: 20,
        onProgress: async (progress) => {
          if (progress.event !== "retry") return;
          retries.push(progress.phase);
          // While the create waits for its lock, it holds nothing that stops sign-ins (it gave up after 20 ms).
          const user = await reader.findUserByEmail(SIGNED_IN[0]);
          if (user) {
            await reader.recordLogin(user, "192.0.2.9");
            signInsWhileWaiting++;
          }
          if (retries.length === 3) {
            await holder.query(`COMMIT`);
          }
        },
      });
      const done = await upgrade.finally(() => holder.release());
      expect(done.done).toBe(true);
      expect(retries.length).toBeGreaterThanOrEqual(3);
      expect(new Set(retries)).toEqual(new Set(["create"]));
      expect(signInsWhileWaiting).toBeGreaterThanOrEqual(3);
      expect(await schemaFingerprint(upgrader, db.kind)).toBe(fingerprints.get(4));
    });

  describe("refused and concurrent runs", () => {
    const other = new TestDatabase(db.kind);
    beforeAll(() => other.create());
    afterAll(() => other.drop());

    it("two users with one username stop V1 to V2 before anything changes, listed as the offline migration lists them", async () => {
      const v1ds = await open(other, 1);
      await v1ds.runMigrations({ transaction: "all" });
      const users = v1ds.getRepository(v1.User);
      await users.save(
        ["bob", "bob", "carl"].map((username, i) => users.create({ email: `dup${i}@example.com`, password: "hash", username })),
      );
      const before = await schemaFingerprint(v1ds, db.kind);
      const upgrader = await open(other, 2);
      const error = await upgradeOnline(upgrader, { complete: true }).catch((e) => e);
      expect(error).toBeInstanceOf(MigrationBlockedError);
      expect(error).toMatchObject({ entity: "user", field: "username", rule: "duplicate-values" });
      expect(error.message).toMatch(/"bob" \(ids 1, 2\)\. Nothing was changed\./);
      expect(await schemaFingerprint(upgrader, db.kind)).toBe(before);
      await users.update({ email: "dup1@example.com" }, { username: "bobby" });
    });

    it("V1 to V4 in one command: a table of that name not made by this package stops it before anything changes; without it, every step runs", async () => {
      await onFreshV1(200, async (v1ds, v1db) => {
        await v1ds.query(`CREATE TABLE fs_refresh_tracker (id INTEGER PRIMARY KEY, refresh_family VARCHAR(64))`);
        const before = await schemaFingerprint(v1ds, db.kind);
        const upgrader = await open(v1db, 4);
        for (const attempt of [() => planOnlineUpgrade(upgrader), () => upgradeOnline(upgrader, { complete: true })]) {
          const error = await attempt().catch((e) => e);
          expect(error).toBeInstanceOf(MigrationBlockedError);
          expect(error).toMatchObject({ entity: "fs_refresh_tracker", field: "(table)", rule: "table-exists" });
        }
        expect(await schemaFingerprint(upgrader, db.kind)).toBe(before);
        await v1ds.query(`DROP TABLE fs_refresh_tracker`);
        const plan = await planOnlineUpgrade(upgrader);
        expect(plan).toMatchObject({ fromVersion: 1, toVersion: 4 });
        expect([...new Set(plan.phases.map((p) => p.migration))]).toEqual([
          "SecurityV2TokenUniquifierUniqueUsername1795737660000",
          "SecurityV3WebAuthnRecoveryCodes1795737720000",
          "SecurityV4RefreshTrackers1795737780000",
        ]);
        expect((await upgradeOnline(upgrader, { complete: true, batchMs: 5 })).done).toBe(true);
        expect(await schemaFingerprint(upgrader, db.kind)).toBe(fingerprints.get(4));
        expect(await drift(upgrader)).toEqual([]);
      });
    });

    it("V3 to V4: the table dropped between create and complete of one run stops complete, recording nothing; run again, it makes the table and completes", async () => {
      await onFreshV1(50, async (v1ds, v1db) => {
        await (await open(v1db, 3)).runMigrations({ transaction: "all" });
        const upgrader = await open(v1db, 4);
        const failed = await upgradeOnline(upgrader, {
          complete: true,
          // Someone drops the table the run just made, as its complete phase begins.
          onProgress: async (progress) => {
            if (progress.phase === "complete" && progress.event === "start") await v1ds.query(`DROP TABLE fs_refresh_tracker`);
          },
        }).catch((error: unknown) => error);
        expect(failed).toBeInstanceOf(OnlineUpgradeError);
        expect(failed).toMatchObject({ entity: "fs_refresh_tracker", rule: "table-missing" });
        expect((failed as Error).message).toContain("fs_refresh_tracker is missing; nothing was recorded: run the upgrade again");
        expect(await upgrader.showMigrations()).toBe(true);
        expect((await upgradeOnline(upgrader, { complete: true })).done).toBe(true);
        expect(await upgrader.showMigrations()).toBe(false);
        expect(await schemaFingerprint(upgrader, db.kind)).toBe(fingerprints.get(4));
        expect(await drift(upgrader)).toEqual([]);
      });
    });

    // Not on SQLite: it has one writer, so the backfill runs one worker there, and rows have no locks of their own.
    if (db.kind !== "sqlite")
      it("two workers, one held up by a transaction that keeps a user's row locked: the upgrade stops with the lock's error once its attempts run out and lets go of the database; run again, it completes", async () => {
        await onFreshV1(400, async (v1ds, v1db) => {
          const [{ last }] = await v1ds.query(`SELECT MAX(id) AS last FROM ${v1ds.driver.escape("user")}`);
          const holder = v1ds.createQueryRunner();
          await holder.startTransaction();
          await holder.query(`SELECT id FROM ${v1ds.driver.escape("user")} WHERE id = ${Number(last)} FOR UPDATE`);
          const upgrader = await open(v1db, 2);
          const failed = await upgradeOnline(upgrader, { batchMs: 5, workers: 2, attempts: 2, lockTimeoutMs: 20 }).catch(
            (error: unknown) => error,
          );
          await holder.rollbackTransaction();
          await holder.release();
          expect(failed).toBeInstanceOf(Error);
          expect((failed as Error).message).toMatch(/lock/i);
          // The failed run let go of its lock and of every worker's connection: the next run starts at once.
          const done = await upgradeOnline(upgrader, { complete: true, batchMs: 5, workers: 2, lockWaitMs: 0 });
          expect(done.done).toBe(true);
          expect(await tokenCounts(upgrader, "fs_token_uniquifier")).toEqual({ users: 400, filled: 400, distinct: 400 });
          expect(await schemaFingerprint(upgrader, db.kind)).toBe(fingerprints.get(2));
        });
      });

    it("two runs at once: one waits for the other's lock, or, past lockWaitMs, stops with OnlineUpgradeBusyError; the database ends upgraded", async () => {
      const [a, b] = [await open(other, 2), await open(other, 2)];
      const results = await Promise.allSettled([
        upgradeOnline(a, { complete: true, batchMs: 5 }),
        upgradeOnline(b, { complete: true, batchMs: 5, lockWaitMs: db.kind === "sqlite" ? undefined : 0 }),
      ]);
      expect(results[0].status).toBe("fulfilled");
      if (results[1].status === "rejected") expect(results[1].reason).toBeInstanceOf(OnlineUpgradeBusyError);
      expect((await planOnlineUpgrade(a)).done).toBe(true);
      expect(await schemaFingerprint(a, db.kind)).toBe(fingerprints.get(2));
    });
  });
  it("workers: a count that is not a whole number from 1 to 64, or more than the DataSource's pool opens, is refused before anything is read or changed", async () => {
    const upgrader = await open(db, 4);
    const before = await schemaFingerprint(upgrader, db.kind);
    for (const workers of [0, 2.5, 65, Number.NaN]) {
      const refused = await upgradeOnline(upgrader, { workers }).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(OnlineUpgradeError);
      expect(refused).toMatchObject({ field: "workers", rule: "workers-range" });
      expect((refused as Error).message).toContain("must be a whole number from 1 to 64");
    }
    if (db.kind !== "sqlite") {
      // A pool of 2: three workers would wait forever for a third connection.
      const small = new DataSource(db.options([...APPS[4]], { migrations: MIGRATIONS[4], poolSize: 2 }));
      await small.initialize();
      opened.push(small);
      const refused = await planOnlineUpgrade(small, { workers: 3 }).catch((error: unknown) => error);
      expect(refused).toMatchObject({ field: "workers", rule: "workers-pool" });
      expect((refused as Error).message).toContain("at most 2 (poolSize)");
      expect((await planOnlineUpgrade(small, { workers: 2 })).done).toBe(true);
    } else {
      // SQLite has one writer: any count backfills with one, whatever the pool.
      expect((await planOnlineUpgrade(upgrader, { workers: 8 })).done).toBe(true);
    }
    expect(await schemaFingerprint(upgrader, db.kind)).toBe(before);
  });
});
