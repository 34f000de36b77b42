/**
 * The refresh-tracker operations and resetUserAccess on each database, on a schema made by the shipped
 * migrations: families from the CSPRNG, exchanges that exactly one of 50 concurrent callers wins, reuse
 * detected and the family revoked, expiry, idle limit, revocation, set-based cleanup, hostile input refused
 * with typed errors naming the field and writing nothing, a reset that a failing statement leaves undone,
 * and no family in JSON or in an error message.
 */
import type { DataSource } from "typeorm";
import { DatabaseOperationError, InvalidFieldsError, MissingColumnError, SecurityDatastore } from "../src";
import { securityMigrations } from "../migrations";
import * as v3 from "./fixtures/app-v3";
import { FsRefreshTracker, Role, User, WebAuthn, entities } from "./fixtures/app-v4";
import { appAddDisplayName } from "./fixtures/app-migrations";
import { describeEachDatabase } from "./support/database";

const HASH = "$2b$12$refresh-test-hash";
const HEX64 = /^[0-9a-f]{64}$/;
const DAY = 86_400_000;

describeEachDatabase("refresh trackers and resetUserAccess", (db) => {
  let ds: DataSource;
  let store: SecurityDatastore<User, Role>;
  let serial = 0;
  const q = (name: string) => ds.driver.escape(name);
  const param = (n: number) => (db.kind === "postgres" ? `$${n}` : "?");
  const trackerCount = async () => Number((await ds.query(`SELECT COUNT(*) AS n FROM fs_refresh_tracker`))[0].n);
  const rawTracker = async (id: number) => (await ds.query(`SELECT * FROM fs_refresh_tracker WHERE id = ${param(1)}`, [id]))[0];
  const rawUser = async (id: number) => (await ds.query(`SELECT * FROM ${q("user")} WHERE id = ${param(1)}`, [id]))[0];
  const newUser = () => store.createUser({ email: `user${++serial}@example.com`, password: HASH });
  const inDays = (days: number) => new Date(Date.now() + days * DAY);

  beforeAll(async () => {
    ds = await db.dataSource(entities, { migrations: [...securityMigrations, appAddDisplayName("user")], poolSize: 10 });
    await ds.runMigrations({ transaction: "all" });
    store = new SecurityDatastore(ds, User, Role);
  });

  describe("createRefreshTracker and findRefreshTracker", () => {
    it("a new tracker has a distinct random 64-hex family, generation 1 and last use now; found by its family", async () => {
      const user = await newUser();
      const before = Date.now();
      const trackers = [await store.createRefreshTracker(user, { name: "phone", expiresAt: inDays(90) })];
      trackers.push(await store.createRefreshTracker(user, { name: "laptop", expiresAt: inDays(90) }));
      for (const tracker of trackers) {
        expect(tracker.refreshFamily).toMatch(HEX64);
        const row = await rawTracker(tracker.id);
        expect([row.refresh_family, Number(row.gen), row.user_id, row.revoked_at]).toEqual([tracker.refreshFamily, 1, user.id, null]);
        const found = (await store.findRefreshTracker(tracker.refreshFamily))!;
        expect([found.id, found.gen, found.name, found.userId]).toEqual([tracker.id, 1, tracker.name, user.id]);
        expect(found.lastUsedAt.getTime()).toBeGreaterThanOrEqual(before - 1000);
        expect(found.expiresAt.getTime()).toBe(tracker.expiresAt.getTime());
      }
      expect(trackers[0].refreshFamily).not.toBe(trackers[1].refreshFamily);
      expect(await store.findRefreshTracker("f".repeat(64))).toBeNull();
    });

    it("the caller cannot choose the family, the generation or the owner", async () => {
      const [user, other] = [await newUser(), await newUser()];
      const fields = { name: "hostile", expiresAt: inDays(1), refreshFamily: "chosen", gen: 99, userId: other.id, revokedAt: null };
      const tracker = await store.createRefreshTracker(user, fields);
      const row = await rawTracker(tracker.id);
      expect([row.refresh_family === "chosen", Number(row.gen), row.user_id]).toEqual([false, 1, user.id]);
    });

    it.each([
      ["an empty name", { name: "", expiresAt: new Date() }, "name"],
      ["a name over 64 characters", { name: "n".repeat(65), expiresAt: new Date() }, "name"],
      ["a name that is not a string", { name: 42, expiresAt: new Date() }, "name"],
      ["a lone surrogate in the name", { name: "bad\uD800", expiresAt: new Date() }, "name"],
      ["no expiry", { name: "phone" }, "expiresAt"],
      ["an invalid date", { name: "phone", expiresAt: new Date("nope") }, "expiresAt"],
      ["an expiry as a string", { name: "phone", expiresAt: "2030-01-01" }, "expiresAt"],
    ])("refuses %s with an InvalidFieldsError naming the field, writing nothing", async (_, fields, field) => {
      const user = await newUser();
      const before = await trackerCount();
      const error = await store.createRefreshTracker(user, fields as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidFieldsError);
      expect((error as InvalidFieldsError).problems.map((p) => p.field)).toContain(field);
      expect(await trackerCount()).toBe(before);
    });

    it("refuses an unsaved user and hostile families with typed errors that never quote the family", async () => {
      await expect(store.createRefreshTracker({} as User, { name: "x", expiresAt: inDays(1) })).rejects.toMatchObject({
        field: "user",
        rule: "isSavedUser",
      });
      for (const family of [undefined, null, 42, {}, "", "x".repeat(65)]) {
        const error = await store.findRefreshTracker(family as never).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(InvalidFieldsError);
        expect((error as InvalidFieldsError).field).toBe("refreshFamily");
      }
      const secret = "s3cret-family-" + "9".repeat(60);
      const error = await store.exchangeRefreshTracker(secret, 1).catch((e: unknown) => e);
      expect((error as Error).message).not.toContain("s3cret");
      for (const gen of [0, -1, 1.5, NaN, "1", null])
        await expect(store.exchangeRefreshTracker("a".repeat(64), gen as never)).rejects.toMatchObject({
          field: "gen",
          rule: "isPositiveInteger",
        });
    });

    it("on a schema before version 4 the operations name the missing relation", async () => {
      const v3ds = await db.dataSource([v3.User, v3.Role, v3.WebAuthn]);
      const v3store = new SecurityDatastore(v3ds, v3.User, v3.Role);
      const error = await v3store.findRefreshTracker("a".repeat(64)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MissingColumnError);
      expect(error).toMatchObject({ entity: "User", field: "refreshTrackers", rule: "missing-relation" });
      await v3ds.destroy();
    });
  });

  describe("exchangeRefreshTracker", () => {
    it("the current generation moves on by one; the token of the old one is then a reuse, which revokes the family", async () => {
      const tracker = await store.createRefreshTracker(await newUser(), { name: "phone", expiresAt: inDays(90) });
      const first = await store.exchangeRefreshTracker(tracker.refreshFamily, 1);
      expect(first.outcome).toBe("exchanged");
      expect(first.outcome === "exchanged" && first.tracker.gen).toBe(2);
      expect(Number((await rawTracker(tracker.id)).gen)).toBe(2);
      const second = await store.exchangeRefreshTracker(tracker.refreshFamily, 2);
      expect(second.outcome === "exchanged" && second.tracker.gen).toBe(3);

      const replay = await store.exchangeRefreshTracker(tracker.refreshFamily, 2);
      expect(replay.outcome).toBe("reused");
      expect((await rawTracker(tracker.id)).revoked_at).not.toBeNull();
      // The owner's current token dies with the family.
      expect((await store.exchangeRefreshTracker(tracker.refreshFamily, 3)).outcome).toBe("revoked");
      expect(Number((await rawTracker(tracker.id)).gen)).toBe(3);
    });

    it("50 concurrent exchanges of one generation: exactly one wins, the others see a reuse, the family ends revoked", async () => {
      const tracker = await store.createRefreshTracker(await newUser(), { name: "raced", expiresAt: inDays(90) });
      const results = await Promise.all(Array.from({ length: 50 }, () => store.exchangeRefreshTracker(tracker.refreshFamily, 1)));
      const outcomes = results.map((r) => r.outcome);
      expect(outcomes.filter((o) => o === "exchanged")).toHaveLength(1);
      expect(outcomes.filter((o) => o === "reused")).toHaveLength(49);
      const row = await rawTracker(tracker.id);
      expect(Number(row.gen)).toBe(2);
      expect(row.revoked_at).not.toBeNull();
    });

    it("an expired family and one idle for longer than maxIdleMs are expired, not revoked; an unknown family is not-found", async () => {
      const user = await newUser();
      const expired = await store.createRefreshTracker(user, { name: "old", expiresAt: new Date(Date.now() - 1000) });
      expect((await store.exchangeRefreshTracker(expired.refreshFamily, 1)).outcome).toBe("expired");
      const idle = await store.createRefreshTracker(user, { name: "idle", expiresAt: inDays(90) });
      const later = new Date(Date.now() + 8 * DAY);
      expect((await store.exchangeRefreshTracker(idle.refreshFamily, 1, { maxIdleMs: 7 * DAY, now: later })).outcome).toBe("expired");
      expect((await store.exchangeRefreshTracker(idle.refreshFamily, 1, { maxIdleMs: 9 * DAY, now: later })).outcome).toBe("exchanged");
      for (const id of [expired.id, idle.id]) expect((await rawTracker(id)).revoked_at).toBeNull();
      expect((await store.exchangeRefreshTracker("0".repeat(64), 1)).outcome).toBe("not-found");
    });

    it("revokeRefreshTracker: true once, then false; a revoked family is refused at its current generation", async () => {
      const tracker = await store.createRefreshTracker(await newUser(), { name: "signed-out", expiresAt: inDays(90) });
      expect(await store.revokeRefreshTracker(tracker.refreshFamily)).toBe(true);
      expect(await store.revokeRefreshTracker(tracker.refreshFamily)).toBe(false);
      expect(await store.revokeRefreshTracker("0".repeat(64))).toBe(false);
      expect((await store.exchangeRefreshTracker(tracker.refreshFamily, 1)).outcome).toBe("revoked");
    });
  });

  describe("cleanupRefreshTrackers", () => {
    it("deletes expired trackers (all users, or one), revoked ones when asked, in set-based statements", async () => {
      await ds.query(`DELETE FROM fs_refresh_tracker`);
      const [ada, bob] = [await newUser(), await newUser()];
      const make = (user: User, name: string, days: number) => store.createRefreshTracker(user, { name, expiresAt: inDays(days) });
      for (const user of [ada, bob]) {
        await make(user, "expired", -1);
        await make(user, "valid", 30);
        await store.revokeRefreshTracker((await make(user, "revoked", 30)).refreshFamily);
      }
      expect(await store.cleanupRefreshTrackers({ user: ada })).toBe(1);
      expect(await store.cleanupRefreshTrackers({ expired: false, revoked: true, user: ada })).toBe(1);
      expect(await store.cleanupRefreshTrackers({ expired: false, revoked: false })).toBe(0);
      expect(await store.cleanupRefreshTrackers({ revoked: true })).toBe(2);
      const left: Array<{ name: string; user_id: number }> = await ds.query(
        `SELECT name, user_id FROM fs_refresh_tracker ORDER BY user_id`,
      );
      expect(left.map((r) => [r.name, r.user_id])).toEqual([
        ["valid", ada.id],
        ["valid", bob.id],
      ]);
      await expect(store.cleanupRefreshTrackers({ user: { id: "1 OR 1=1" } as never })).rejects.toMatchObject({ field: "user" });
      expect(await trackerCount()).toBe(2);
    });
  });

  describe("resetUserAccess", () => {
    /** A user with every secret a reset removes, a passkey and two refresh trackers, and a bystander. */
    async function compromised() {
      const user = await store.createUser(
        { email: `reset${++serial}@example.com`, password: HASH },
        {
          tfPrimaryMethod: "authenticator",
          tfTotpSecret: "tf-secret",
          tfPhoneNumber: "+16505550101",
          usTotpSecrets: '{"email":"us-secret"}',
          usPhoneNumber: `+1650555${String(serial).padStart(4, "0")}`,
          mfRecoveryCodes: ["code-1", "code-2"],
        },
      );
      const credentials = ds.getRepository(WebAuthn);
      await credentials.save(
        credentials.create({
          credentialId: Buffer.from(`cred-${serial}`),
          publicKey: Buffer.from("key"),
          transports: ["usb"],
          backupState: false,
          deviceType: "single_device",
          name: "key",
          usage: "first",
          userId: user.id,
        }),
      );
      const trackers = [
        await store.createRefreshTracker(user, { name: "phone", expiresAt: inDays(90) }),
        await store.createRefreshTracker(user, { name: "laptop", expiresAt: inDays(90) }),
      ];
      const bystander = await newUser();
      const bystanderTracker = await store.createRefreshTracker(bystander, { name: "phone", expiresAt: inDays(90) });
      return { user, trackers, bystander, bystanderTracker };
    }
    const passkeys = async (userId: number) =>
      Number((await ds.query(`SELECT COUNT(*) AS n FROM web_authn WHERE user_id = ${param(1)}`, [userId]))[0].n);

    it("rotates both uniquifiers, clears every secret, removes passkeys, revokes trackers; the password and others stay", async () => {
      const { user, trackers, bystander, bystanderTracker } = await compromised();
      const before = await rawUser(user.id);
      const bystanderBefore = await rawUser(bystander.id);
      await store.resetUserAccess(user);
      const after = await rawUser(user.id);
      expect(after.fs_uniquifier).toMatch(HEX64);
      expect(after.fs_uniquifier).not.toBe(before.fs_uniquifier);
      expect(after.fs_token_uniquifier).not.toBe(before.fs_token_uniquifier);
      expect([after.fs_uniquifier, after.fs_token_uniquifier]).toEqual([user.fsUniquifier, user.fsTokenUniquifier]);
      const cleared = ["tf_primary_method", "tf_totp_secret", "tf_phone_number", "us_totp_secrets", "us_phone_number", "mf_recovery_codes"];
      expect(cleared.map((c) => after[c])).toEqual(cleared.map(() => null));
      expect([after.password, after.email, after.fs_webauthn_user_handle]).toEqual([
        before.password,
        before.email,
        before.fs_webauthn_user_handle,
      ]);
      expect(await passkeys(user.id)).toBe(0);
      for (const tracker of trackers) {
        expect((await rawTracker(tracker.id)).revoked_at).not.toBeNull();
        expect((await store.exchangeRefreshTracker(tracker.refreshFamily, 1)).outcome).toBe("revoked");
      }
      expect(await rawUser(bystander.id)).toEqual(bystanderBefore);
      expect((await rawTracker(bystanderTracker.id)).revoked_at).toBeNull();
    });

    it("a statement failing half-way leaves everything as it was (one transaction), with an error that names no secret", async () => {
      const { user, trackers } = await compromised();
      const before = await rawUser(user.id);
      const trigger = {
        sqlite: [`CREATE TRIGGER tsm_fail BEFORE UPDATE ON fs_refresh_tracker BEGIN SELECT RAISE(ABORT, 'stopped'); END`],
        postgres: [
          `CREATE FUNCTION tsm_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'stopped'; END $$`,
          `CREATE TRIGGER tsm_fail BEFORE UPDATE ON fs_refresh_tracker FOR EACH ROW EXECUTE FUNCTION tsm_fail()`,
        ],
        mariadb: [
          `CREATE TRIGGER tsm_fail BEFORE UPDATE ON fs_refresh_tracker FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'stopped'`,
        ],
      }[db.kind];
      for (const statement of trigger) await ds.query(statement);
      try {
        const error = await store.resetUserAccess(user).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(DatabaseOperationError);
        for (const secret of [
          before.fs_uniquifier,
          before.fs_token_uniquifier,
          "tf-secret",
          "us-secret",
          ...trackers.map((t) => t.refreshFamily),
        ])
          expect(String((error as Error).message) + String((error as DatabaseOperationError).query)).not.toContain(secret);
      } finally {
        await ds.query(db.kind === "postgres" ? `DROP TRIGGER tsm_fail ON fs_refresh_tracker` : `DROP TRIGGER tsm_fail`);
      }
      expect(await rawUser(user.id)).toEqual(before);
      expect(await passkeys(user.id)).toBe(1);
      for (const tracker of trackers) expect((await rawTracker(tracker.id)).revoked_at).toBeNull();
    });

    it("refuses an unknown or unsaved user, changing nothing", async () => {
      await expect(store.resetUserAccess({ id: 999_999 } as User)).rejects.toMatchObject({ field: "id", rule: "exists" });
      await expect(store.resetUserAccess({} as User)).rejects.toMatchObject({ field: "id", rule: "isSavedUser" });
    });
  });

  describe("secrets", () => {
    it("no family in a tracker's JSON nor in a user's with its trackers loaded", async () => {
      const user = await newUser();
      const tracker = await store.createRefreshTracker(user, { name: "phone", expiresAt: inDays(90) });
      expect(JSON.parse(JSON.stringify(tracker))).not.toHaveProperty("refreshFamily");
      expect(JSON.stringify(await ds.getRepository(FsRefreshTracker).findOneByOrFail({ id: tracker.id }))).not.toContain(
        tracker.refreshFamily,
      );
      const loaded = await ds.getRepository(User).findOneOrFail({ where: { id: user.id }, relations: { refreshTrackers: true } });
      expect(loaded.refreshTrackers).toHaveLength(1);
      const json = JSON.stringify(loaded);
      expect(json).toContain('"name":"phone"');
      expect(json).not.toContain(tracker.refreshFamily);
    });
  });
});
