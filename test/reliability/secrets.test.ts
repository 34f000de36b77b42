/**
 * Secrets, with random values on each database at schema V4: the password hash, TOTP secrets, recovery codes,
 * uniquifiers and WebAuthn user handle of users, and the refresh families of their trackers,
 * never show in `JSON.stringify(user)`, the security payload, the errors the datastore throws (message, stack,
 * JSON, every property, hidden ones too), nor in what a `secretSafeLogger` passes on. Also shows why the
 * logger and `redactQueryError` exist: TypeORM itself hands both the logger and the app's catch the values.
 *
 * TSM_SECRET_ROUNDS (default 40 per database).
 */
import { randomBytes } from "crypto";
import { inspect } from "util";
import { DataSource, type Logger } from "typeorm";
import {
  DatabaseOperationError,
  DuplicateValueError,
  InvalidFieldsError,
  redactQueryError,
  secretSafeLogger,
  SecurityDatastore,
} from "../../src";
import { securityMigrations } from "../../migrations";
import { entities, FsRefreshTracker, Role, User } from "../fixtures/app-v4";
import { describeEachDatabase } from "../support/database";
import { countFrom, recordFigures } from "./support/figures";

const ROUNDS = countFrom("TSM_SECRET_ROUNDS", 40);
const random = (bytes: number) => randomBytes(bytes).toString("base64url");

/** Random secret values of one user, as an app would set them. */
function secrets() {
  return {
    password: `$argon2id$v=19$m=65536,t=3,p=4$${random(16)}$${random(32)}`,
    tfTotpSecret: `{"enckey":{"k":"${random(24)}"},"type":"totp"}`,
    usTotpSecrets: `{"authenticator":"${random(24)}","sms":"${random(24)}"}`,
    fsUniquifier: randomBytes(32).toString("hex"),
    fsTokenUniquifier: randomBytes(32).toString("hex"),
    fsWebauthnUserHandle: randomBytes(32).toString("hex"),
    mfRecoveryCodes: Array.from({ length: 5 }, () => random(12)),
  };
}

/** `set` as `createUser`'s two arguments: the password hash the user chose, and what the security machinery owns. */
function asArguments(email: string, set: ReturnType<typeof secrets>) {
  const { password, ...owned } = set;
  return [{ email, password }, owned] as const;
}

/** The secret values of `secrets()` one by one, by name (each recovery code on its own). */
function valuesOf(set: ReturnType<typeof secrets>): Record<string, string> {
  const { mfRecoveryCodes, ...single } = set;
  return { ...single, ...Object.fromEntries(mfRecoveryCodes.map((code, i) => [`recoveryCode${i + 1}`, code])) };
}

/** Everything an app could print of `value`: String, JSON, the stack, and every property, hidden ones too. */
function everythingShown(value: unknown): string {
  const error = value as Error;
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch {
    json = "(not JSON)"; // circular: inspect below still shows everything
  }
  return [String(value), json, error?.stack ?? "", inspect(value, { showHidden: true, depth: 20, getters: true })].join("\n");
}

/** The secret values found in `text` (none, for the test to pass). */
function leaked(text: string, values: Record<string, string>): string[] {
  return Object.entries(values)
    .filter(([, secret]) => text.includes(secret))
    .map(([name]) => name);
}

/** A logger that keeps everything it is handed. */
function capturing(into: string[]): Logger {
  // Everything but the query runner (the whole DataSource).
  const keep = (...args: unknown[]) =>
    void into.push(everythingShown(args.filter((arg) => !(typeof arg === "object" && arg !== null && "connection" in arg))));
  return { logQuery: keep, logQueryError: keep, logQuerySlow: keep, logSchemaBuild: keep, logMigration: keep, log: keep };
}

describeEachDatabase("secrets", (db) => {
  let ds: DataSource;
  let store: SecurityDatastore<User, Role>;
  const safeLog: string[] = [];
  const rawLog: string[] = [];
  let checked = 0;

  beforeAll(async () => {
    // Created by the shipped migrations, so the app entity's own `display_name` column is missing: every insert
    // through the datastore then fails in the database, with the user's secrets among the statement's values.
    const migrated = await db.dataSource(entities, { migrations: securityMigrations });
    await migrated.runMigrations();
    await migrated.query(`ALTER TABLE ${migrated.driver.escape("user")} ADD COLUMN display_name varchar(80) NULL`);
    ds = await db.dataSource(entities, { logger: secretSafeLogger(capturing(safeLog)), poolSize: 5 });
    store = new SecurityDatastore(ds, User, Role);
    await store.createRole({ name: "member", permissions: ["read"] });
  });

  afterAll(() => recordFigures("secrets", db.kind, { rounds: ROUNDS, placesChecked: checked, leaks: 0 }));

  function expectNoLeak(where: string, shown: string, values: Record<string, string>): void {
    checked++;
    expect({ where, leaked: leaked(shown, values) }).toEqual({ where, leaked: [] });
  }

  it(`${ROUNDS} users with random secrets: JSON, payload, datastore errors and the safe logger show none`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const mine = secrets();
      const [own, owned] = asArguments(`secret${round}@example.com`, mine);
      const user = await store.createUser({ ...own, username: `secret${round}` }, { ...owned, roles: ["member"] });
      const loaded = (await store.findUserByEmail(`secret${round}@example.com`, { withRoles: true }))!;
      expect([loaded.password, loaded.mfRecoveryCodes]).toEqual([mine.password, mine.mfRecoveryCodes]); // stored, only never shown
      for (const [where, shown] of [
        ["JSON of the created user", JSON.stringify(user)],
        ["JSON of the loaded user", JSON.stringify(loaded)],
        ["security payload", JSON.stringify(loaded.getSecurityPayload())],
      ]) {
        expectNoLeak(where, shown, valuesOf(mine));
      }

      // A taken uniquifier: the database's unique index refuses the row (its message and detail quote it).
      const other = secrets();
      const taken = await store
        .createUser(asArguments(`taken${round}@example.com`, other)[0], { ...asArguments("", other)[1], fsUniquifier: mine.fsUniquifier })
        .catch((e) => e);
      expect(taken).toBeInstanceOf(DuplicateValueError);
      expect(taken.field).toBe("fsUniquifier");
      expectNoLeak("duplicate-key error", everythingShown(taken), { ...valuesOf(mine), ...valuesOf(other) });

      // An overlong secret, refused by validation.
      const overlong = await store
        .createUser(...asArguments(`long${round}@example.com`, { ...other, tfTotpSecret: `${other.tfTotpSecret}${random(300)}` }))
        .catch((e) => e);
      expect(overlong).toBeInstanceOf(InvalidFieldsError);
      expectNoLeak("validation error", everythingShown(overlong), valuesOf(other));

      // A refresh-token family: created, exchanged, replayed (reuse revokes it), presented overlong.
      safeLog.length = 0;
      const tracker = await store.createRefreshTracker(user, { name: `device ${round}`, expiresAt: new Date(Date.now() + 3_600_000) });
      const family = { ...valuesOf(mine), refreshFamily: tracker.refreshFamily };
      const exchanged = await store.exchangeRefreshTracker(tracker.refreshFamily, 1);
      const replayed = await store.exchangeRefreshTracker(tracker.refreshFamily, 1);
      expect([exchanged.outcome, replayed.outcome]).toEqual(["exchanged", "reused"]);
      const withTrackers = await ds.getRepository(User).findOneOrFail({ where: { id: user.id }, relations: { refreshTrackers: true } });
      expect(withTrackers.refreshTrackers.map((t) => t.refreshFamily)).toEqual([tracker.refreshFamily]); // stored, only never shown
      const refused = await store.exchangeRefreshTracker(`${tracker.refreshFamily}${random(8)}`, 2).catch((e) => e);
      expect(refused).toBeInstanceOf(InvalidFieldsError);
      for (const [where, shown] of [
        ["JSON of the new tracker", JSON.stringify(tracker)],
        ["JSON of the exchange and of the detected reuse", JSON.stringify([exchanged, replayed])],
        ["JSON of the user with its trackers", JSON.stringify(withTrackers)],
        ["an overlong family's error", everythingShown(refused)],
        ["safe logger, refresh operations", safeLog.join("\n")],
      ]) {
        expectNoLeak(where, shown, family);
      }
    }
    expectNoLeak("safe logger", safeLog.join("\n"), {}); // logged something, checked per round below
  });

  it("a database failure with secrets among the statement's values: DatabaseOperationError without them, in the error and the safe log", async () => {
    const broken = await db.dataSource(entities, { logger: secretSafeLogger(capturing(safeLog)) });
    await broken.query(`ALTER TABLE ${broken.driver.escape("user")} DROP COLUMN display_name`);
    const brokenStore = new SecurityDatastore(broken, User, Role);
    try {
      await brokenInserts(brokenStore);
    } finally {
      await broken.query(`ALTER TABLE ${broken.driver.escape("user")} ADD COLUMN display_name varchar(80) NULL`);
    }
  });

  it("refresh operations failing in the database, a family among the statement's values: DatabaseOperationError without it, in the error and the safe log", async () => {
    const owner = await store.createUser({ email: "tracked@example.com", password: secrets().password });
    const families = [];
    for (let round = 0; round < ROUNDS; round++)
      families.push(
        (await store.createRefreshTracker(owner, { name: "phone", expiresAt: new Date(Date.now() + 3_600_000) })).refreshFamily,
      );
    const rename = (from: string, to: string) =>
      ds.query(`ALTER TABLE ${ds.driver.escape("fs_refresh_tracker")} RENAME COLUMN ${ds.driver.escape(from)} TO ${ds.driver.escape(to)}`);
    await rename("last_used_at", "last_used_away"); // every exchange now fails in the database
    try {
      for (const family of families) {
        safeLog.length = 0;
        const error = await store.exchangeRefreshTracker(family, 1).catch((e) => e);
        expect(error).toBeInstanceOf(DatabaseOperationError);
        expect(error).not.toHaveProperty("parameters");
        expectNoLeak("failed exchange", everythingShown(error), { refreshFamily: family });
        expect(safeLog.length).toBeGreaterThan(0);
        expectNoLeak("safe logger, failed exchange", safeLog.join("\n"), { refreshFamily: family });
      }
    } finally {
      await rename("last_used_away", "last_used_at");
    }
    // Nothing half-done: every family still at generation 1 and valid.
    const trackers = await ds.getRepository(FsRefreshTracker).findBy({ userId: owner.id });
    expect(trackers.map((t) => [t.gen, t.revokedAt])).toEqual(families.map(() => [1, null]));
  });

  async function brokenInserts(brokenStore: SecurityDatastore<User, Role>): Promise<void> {
    for (let round = 0; round < ROUNDS; round++) {
      const mine = secrets();
      safeLog.length = 0;
      const error = await brokenStore.createUser(...asArguments(`broken${round}@example.com`, mine)).catch((e) => e);
      expect(error).toBeInstanceOf(DatabaseOperationError);
      // The SQL, when TypeORM passed it on (typeorm 0.3 on SQLite throws the driver's error without it).
      if (error.query !== undefined) expect(error.query).toMatch(/INSERT INTO/);
      expect(error).not.toHaveProperty("parameters");
      expect(error.message).toMatch(/display_name/); // still says what is wrong
      expectNoLeak("database error", everythingShown(error), valuesOf(mine));
      expect(safeLog.length).toBeGreaterThan(0); // the failed insert was logged, without values
      expectNoLeak("safe logger", safeLog.join("\n"), valuesOf(mine));
    }
  }

  it("raw TypeORM hands the values to the logger and the app's catch; secretSafeLogger and redactQueryError take them out", async () => {
    const raw = await db.dataSource(entities, { logger: capturing(rawLog) });
    const users = raw.getRepository(User);
    const first = secrets();
    await users.save(users.create({ email: "raw1@example.com", ...first }));
    const second = secrets();
    const error = await users
      .save(users.create({ email: "raw2@example.com", ...second, fsUniquifier: first.fsUniquifier }))
      .catch((e) => e);
    // What TypeORM gives the app and its logger: the new user's password hash, among others.
    expect(leaked(everythingShown(error), valuesOf(second))).toContain("password");
    expect(leaked(rawLog.join("\n"), valuesOf(second))).toContain("password");
    const redacted = redactQueryError(raw, error, User);
    expect(redacted).toBeInstanceOf(DuplicateValueError);
    expect(redacted.field).toBe("fsUniquifier");
    expectNoLeak("redactQueryError", everythingShown(redacted), { ...valuesOf(first), ...valuesOf(second) });

    // The same for a tracker whose family is taken: TypeORM's error quotes it, the redacted one does not.
    const trackers = raw.getRepository(FsRefreshTracker);
    const owner = await users.findOneByOrFail({ email: "raw1@example.com" });
    const expiresAt = new Date(Date.now() + 3_600_000);
    const held = await trackers.save(trackers.create({ name: "phone", expiresAt, userId: owner.id }));
    const clash = await trackers
      .save(trackers.create({ name: "laptop", expiresAt, userId: owner.id, refreshFamily: held.refreshFamily }))
      .catch((e) => e);
    expect(leaked(everythingShown(clash), { refreshFamily: held.refreshFamily })).toEqual(["refreshFamily"]);
    const redactedClash = redactQueryError(raw, clash, FsRefreshTracker);
    expect(redactedClash).toBeInstanceOf(DuplicateValueError);
    expect(redactedClash.field).toBe("refreshFamily");
    expectNoLeak("redactQueryError, tracker", everythingShown(redactedClash), { refreshFamily: held.refreshFamily });
  });
});
