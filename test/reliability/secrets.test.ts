/**
 * Secrets, with random values on each database at schema V3: the password hash, TOTP secrets, recovery codes,
 * uniquifiers and WebAuthn user handle of users
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
import { securityMigrationsV3 } from "../../migrations";
import { Role, User, WebAuthn } from "../fixtures/app-v3";
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
    const migrated = await db.dataSource([User, Role, WebAuthn], { migrations: securityMigrationsV3 });
    await migrated.runMigrations();
    await migrated.query(`ALTER TABLE ${migrated.driver.escape("user")} ADD COLUMN display_name varchar(80) NULL`);
    ds = await db.dataSource([User, Role, WebAuthn], { logger: secretSafeLogger(capturing(safeLog)), poolSize: 5 });
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
    }
    expectNoLeak("safe logger", safeLog.join("\n"), {}); // logged something, checked per round below
  });

  it("a database failure with secrets among the statement's values: DatabaseOperationError without them, in the error and the safe log", async () => {
    const broken = await db.dataSource([User, Role, WebAuthn], { logger: secretSafeLogger(capturing(safeLog)) });
    await broken.query(`ALTER TABLE ${broken.driver.escape("user")} DROP COLUMN display_name`);
    const brokenStore = new SecurityDatastore(broken, User, Role);
    try {
      await brokenInserts(brokenStore);
    } finally {
      await broken.query(`ALTER TABLE ${broken.driver.escape("user")} ADD COLUMN display_name varchar(80) NULL`);
    }
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
    const raw = await db.dataSource([User, Role, WebAuthn], { logger: capturing(rawLog) });
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
  });
});
