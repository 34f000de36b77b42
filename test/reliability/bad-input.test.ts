/**
 * Bad input in bulk, by property-based generation (fast-check), on each database at the newest schema version
 * (made by the shipped migrations, as an app's is), through the datastore and
 * through entity save() where the package validates (comma lists). Each bad value gets a typed error naming
 * the field and leaves the row counts (users, roles, links) and the stored values unchanged; each valid value
 * (odd Unicode, astral characters, the longest allowed, datetimes) reads back exactly as given. The refresh
 * operations (schema version 4) and resetUserAccess get hostile families, generations, options, tracker fields
 * and users: each a typed error naming the field, no tracker or user changed.
 *
 * TSM_PROPERTY_CASES (default 1,500 per database, spread over the properties by weight), TSM_PROPERTY_SEED.
 */
import * as fc from "fast-check";
import type { DataSource } from "typeorm";
import { DuplicateValueError, InvalidFieldsError, InvalidListItemError, SecurityDatastore } from "../../src";
import { securityMigrations } from "../../migrations";
import { appAddDisplayName } from "../fixtures/app-migrations";
import { entities, Role, User } from "../fixtures/app-v4";
import { hasLoneSurrogate } from "../../src/unicode";
import { describeEachDatabase } from "../support/database";
import { countFrom, recordFigures, seedFrom } from "./support/figures";

const CASES = countFrom("TSM_PROPERTY_CASES", 1500);
/** Share of the cases each property gets. */
const WEIGHTS = {
  badEmail: 250,
  caseVariant: 100,
  caseVariantInDatabase: 100,
  roleName: 150,
  listItem: 200,
  badString: 150,
  roundTrip: 250,
  trackerFields: 100,
  refreshFamily: 100,
  exchangeArguments: 60,
  resetAccess: 40,
} as const;
const total = Object.values(WEIGHTS).reduce((a, b) => a + b, 0);
const runsOf = (property: keyof typeof WEIGHTS) => Math.max(10, Math.round((CASES * WEIGHTS[property]) / total));

type ErrorType = new (...args: never[]) => Error;

const HASH = "$2b$12$bad-input-hash-bad-input-hash-bad-input-hash-bad-input-ha";
const DOMAINS = ["example.com", "example.org", "mail.example.net"];

/** Simple valid emails, unique per call thanks to `n`: the package's rules accept all of them. */
const validEmail = (n: () => number) =>
  fc
    .tuple(fc.stringMatching(/^[a-z0-9]{1,12}(\+[a-z0-9]{1,6})?$/), fc.constantFrom(...DOMAINS))
    .map(([local, domain]) => `r${n()}${local}@${domain}`);

/** Strings no database stores unchanged: with a NUL, with a lone surrogate. */
const unstorable = fc.oneof(
  fc.tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 })).map(([a, b]) => `${a}\0${b}`),
  fc
    .tuple(fc.string({ maxLength: 20 }), fc.integer({ min: 0xd800, max: 0xdfff }), fc.string({ maxLength: 20 }))
    .map(([a, s, b]) => `${a}${String.fromCharCode(s)}${b}`),
);

/** Longer than `limit` characters as the database counts them (code points), with astral and variation selectors. */
const overlong = (limit: number) =>
  fc
    .tuple(fc.integer({ min: limit + 1, max: limit + 40 }), fc.constantFrom("a", "é", "😀", "\uFE0F", "字"))
    .map(([length, unit]) => unit.repeat(length));

/** List items a comma list cannot hold. */
const badItem = fc.oneof(
  fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })).map(([a, b]) => `${a},${b}`),
  fc.constantFrom("", " ", "\t", "  \n "),
  fc
    .string({ minLength: 1, maxLength: 8 })
    .filter((s) => s.trim() === s && s.trim() !== "" && !s.includes(","))
    .map((s) => ` ${s}`),
  fc.string({ maxLength: 8 }).map((s) => `a${s.replace(/,/g, "")}\0`),
);

/** Values of the wrong type where a string is wanted. */
const notAString = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.object(), fc.array(fc.string()));

/** Owners that are not a saved user: no object, no id, an id that is not a whole number. */
const notSavedUser = fc.oneof(
  fc.constant(null),
  fc.constant({}),
  fc
    .oneof(
      fc.string(),
      fc.double().filter((d) => !Number.isSafeInteger(d)),
      fc.constant(null),
    )
    .map((id) => ({ id })),
);

/** Items a comma list stores exactly: any Unicode but commas, NUL, lone surrogates and surrounding blanks. */
const goodItem = fc
  .string({ unit: "binary", minLength: 1, maxLength: 20 })
  .map((s) => s.replace(/[,\0]/g, "-"))
  .filter((s) => s.trim() === s && s !== "");

describeEachDatabase("bad input", (db) => {
  let ds: DataSource;
  let store: SecurityDatastore<User, Role>;
  let counter = 0;
  const next = () => ++counter;
  const tried: Record<string, number> = {};
  let seed: number;
  let existing: User;
  /** The families of the valid, exchanged and revoked trackers. */
  let families: string[];

  /** The row counts, and every tracker and every user's uniquifiers: what a refused call must leave as it was. */
  async function counts(): Promise<unknown[]> {
    const q = (name: string) => ds.driver.escape(name);
    const one = async (table: string) => Number((await ds.query(`SELECT COUNT(*) AS n FROM ${q(table)}`))[0].n);
    return [
      await one("user"),
      await one("role"),
      await one("roles_users"),
      await ds.query(`SELECT * FROM ${q("fs_refresh_tracker")} ORDER BY id`),
      await ds.query(`SELECT id, fs_uniquifier, fs_token_uniquifier FROM ${q("user")} ORDER BY id`),
    ];
  }

  /** Runs `attempt`, which must fail with `type` naming `field`, and checks that nothing was written. */
  async function refused(attempt: () => Promise<unknown>, type: ErrorType, field: string | RegExp): Promise<void> {
    const before = await counts();
    const error = await attempt().then(
      () => new Error("accepted"),
      (e) => e,
    );
    expect(error).toBeInstanceOf(type);
    expect((error as { field: string }).field).toMatch(field);
    expect(await counts()).toEqual(before);
  }

  async function check<T>(
    property: keyof typeof WEIGHTS,
    arbitrary: fc.Arbitrary<T>,
    predicate: (value: T) => Promise<void>,
  ): Promise<void> {
    const numRuns = runsOf(property);
    await fc.assert(fc.asyncProperty(arbitrary, predicate), { numRuns, seed, endOnFailure: true });
    tried[property] = numRuns;
  }

  beforeAll(async () => {
    seed = seedFrom("TSM_PROPERTY_SEED", `bad input [${db.kind}]`);
    ds = await db.dataSource(entities, { migrations: [...securityMigrations, appAddDisplayName("user")], poolSize: 5 });
    await ds.runMigrations();
    store = new SecurityDatastore(ds, User, Role);
    await store.createRole({ name: "admin", permissions: ["user-admin"] });
    existing = await store.createUser({ email: "existing@example.com", username: "existing", password: HASH }, { roles: ["admin"] });
    // A valid family, one exchanged once and one revoked: what every refused refresh call must leave as they are.
    const [valid, exchanged, revoked] = await Promise.all(
      ["valid", "exchanged", "revoked"].map((name) =>
        store.createRefreshTracker(existing, { name, expiresAt: new Date(Date.now() + 86_400_000) }),
      ),
    );
    await store.exchangeRefreshTracker(exchanged.refreshFamily, 1);
    await store.revokeRefreshTracker(revoked.refreshFamily);
    families = [valid, exchanged, revoked].map((t) => t.refreshFamily);
  });

  afterAll(() => {
    recordFigures("bad-input", db.kind, { seed, casesTried: Object.values(tried).reduce((a, b) => a + b, 0), byProperty: tried });
  });

  it("malformed and overlong emails: InvalidFieldsError naming email, nothing written", async () => {
    const malformed = fc.oneof(
      fc.string({ maxLength: 30 }).filter((s) => !s.includes("@")),
      fc.tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 })).map(([a, b]) => `${a}@@${b}.com`),
      fc.constantFrom("@example.com", "ada@", "ada @example.com", "ada@example", "ada@exa mple.com", "ada@.com", ""),
      validEmail(next).map((e) => e.replace("@", "\0@")),
      validEmail(next).map((e) => `${"x".repeat(250)}${e}`),
      fc.tuple(overlong(64), fc.constantFrom(...DOMAINS)).map(([local, domain]) => `${local}@${domain}`),
    );
    await check("badEmail", malformed, (email) => refused(() => store.createUser({ email, password: HASH }), InvalidFieldsError, /^email/));
  });

  it("emails that differ only by letter case: the datastore refuses them (DuplicateValueError naming email)", async () => {
    await check("caseVariant", fc.tuple(validEmail(next), fc.infiniteStream(fc.boolean())), async ([email, flips]) => {
      await store.createUser({ email, password: HASH });
      const flipped = [...email].map((c) => (flips.next().value ? c.toUpperCase() : c.toLowerCase())).join("");
      const variant = flipped === email ? email.toUpperCase() : flipped;
      await refused(() => store.createUser({ email: variant, password: HASH }), DuplicateValueError, "email");
    });
  });

  it("emails that differ only by letter case: the database itself refuses them (raw INSERT, no datastore)", async () => {
    const users = ds.getRepository(User);
    await check("caseVariantInDatabase", fc.tuple(validEmail(next), fc.infiniteStream(fc.boolean())), async ([email, flips]) => {
      await users.insert({
        email,
        password: HASH,
        active: true,
        fsUniquifier: `a${next()}`,
        fsTokenUniquifier: `b${next()}`,
        fsWebauthnUserHandle: `c${next()}`,
      });
      const flipped = [...email].map((c) => (flips.next().value ? c.toUpperCase() : c.toLowerCase())).join("");
      const variant = flipped === email ? email.toUpperCase() : flipped;
      const before = await counts();
      const error = await users
        .insert({
          email: variant,
          password: HASH,
          active: true,
          fsUniquifier: `a${next()}`,
          fsTokenUniquifier: `b${next()}`,
          fsWebauthnUserHandle: `c${next()}`,
        })
        .then(
          () => new Error(`the database accepted ${variant} beside ${email}`),
          (e) => e,
        );
      expect(error.constructor.name).toBe("QueryFailedError");
      expect(await counts()).toEqual(before);
    });
  });

  it("overlong, empty and duplicate role names: typed errors naming name, nothing written", async () => {
    const name = fc.oneof(
      overlong(80).map((value) => ({ value, type: InvalidFieldsError })),
      fc.constant({ value: "", type: InvalidFieldsError }),
      unstorable.map((value) => ({ value, type: InvalidFieldsError })),
      fc.constant({ value: "admin", type: DuplicateValueError }),
    );
    await check("roleName", name, ({ value, type }) => refused(() => store.createRole({ name: value }), type, "name"));
  });

  it("list items with commas, empty or blank, surrounding whitespace or NUL: InvalidListItemError naming permissions, nothing written", async () => {
    const [admin] = await ds.getRepository(Role).find({ where: { name: "admin" } });
    const lists = fc.tuple(
      fc.array(goodItem, { maxLength: 3 }),
      badItem,
      fc.array(goodItem, { maxLength: 3 }),
      fc.constantFrom("createRole", "addPermissionsToRole", "save"),
    );
    await check("listItem", lists, async ([head, bad, tail, how]) => {
      const permissions = [...head, bad, ...tail];
      const attempt = {
        createRole: () => store.createRole({ name: `list-${next()}`, permissions }),
        addPermissionsToRole: () => store.addPermissionsToRole("admin", permissions),
        save: () => ds.getRepository(Role).save(ds.getRepository(Role).create({ name: `list-${next()}`, permissions })),
      }[how];
      await refused(attempt, InvalidListItemError, "permissions");
      expect((await ds.getRepository(Role).findOneByOrFail({ id: admin.id })).permissions).toEqual(["user-admin"]);
    });
  });

  it("NUL bytes, lone surrogates and overlong values in any text field: InvalidFieldsError naming the field, nothing written", async () => {
    const fields = fc.oneof(
      fc.tuple(
        fc.constantFrom("username", "tfTotpSecret", "usTotpSecrets", "lastLoginIp", "tfPrimaryMethod", "displayName", "password"),
        unstorable,
      ),
      fc
        .tuple(
          fc.constantFrom(
            ["username", 255],
            ["tfTotpSecret", 255],
            ["currentLoginIp", 64],
            ["displayName", 80],
            ["password", 255],
          ) as fc.Arbitrary<[string, number]>,
          fc.constant(0),
        )
        .chain(([[field, limit]]) => fc.tuple(fc.constant(field), overlong(limit))),
    );
    await check("badString", fields, ([field, value]) =>
      refused(
        () => store.createUser({ email: `s${next()}@example.com`, password: HASH }, { [field]: value }), // any field, owned ones too
        InvalidFieldsError,
        new RegExp(`^${field}$`),
      ),
    );
  });

  it("valid values round-trip exactly: odd Unicode, the longest allowed, lists, datetimes", async () => {
    const unicode = (max: number) => fc.string({ unit: "binary", maxLength: max }).map((s) => s.replace(/\0/g, ""));
    const user = fc.record({
      email: validEmail(next),
      username: fc.tuple(unicode(240), fc.boolean()).map(([s, longest]) => (longest ? `u${next()}-`.padEnd(255, "字") : `u${next()}-${s}`)),
      tfTotpSecret: unicode(255),
      usTotpSecrets: unicode(2000),
      displayName: unicode(80),
      usPhoneNumber: fc.stringMatching(/^[1-9]\d{0,4}$/).map((digits) => `+${digits}${String(next()).padStart(9, "0")}`), // unique from V3 on
      confirmedAt: fc.date({ min: new Date("1970-01-02T00:00:00Z"), max: new Date("2100-01-01T00:00:00Z"), noInvalidDate: true }),
      permissions: fc.array(goodItem, { maxLength: 6 }),
    });
    await check("roundTrip", user, async ({ permissions, ...fields }) => {
      const role = await store.createRole({ name: `rt-${next()}`, permissions });
      const { email, username, displayName, ...owned } = fields; // what the security machinery owns: set on purpose
      await store.createUser({ email, username, displayName, password: HASH }, { ...owned, roles: [role] });
      const stored = (await store.findUserByEmail(fields.email, { withRoles: true }))!;
      const { confirmedAt, ...strings } = fields;
      expect({
        ...Object.fromEntries(Object.keys(strings).map((k) => [k, stored[k as keyof User]])),
        confirmedAt: stored.confirmedAt?.toISOString(),
      }).toEqual({
        ...strings,
        confirmedAt: confirmedAt.toISOString(),
      });
      expect(stored.roles.map((r) => r.permissions)).toEqual([permissions]);
    });
  });

  it("refresh trackers with a bad name, expiry or owner: InvalidFieldsError naming the field, no tracker written", async () => {
    const soon = () => new Date(Date.now() + 3_600_000);
    const bad = fc.oneof(
      fc
        .oneof(overlong(64), unstorable, fc.constant(""), notAString)
        .map((name) => ({ user: existing, fields: { name, expiresAt: soon() }, field: "name" })),
      fc
        .oneof(fc.constant(new Date(Number.NaN)), fc.string(), fc.integer(), fc.constant(null), fc.constant(undefined))
        .map((expiresAt) => ({ user: existing, fields: { name: "phone", expiresAt }, field: "expiresAt" })),
      notSavedUser.map((user) => ({ user, fields: { name: "phone", expiresAt: soon() }, field: "user" })),
    );
    await check("trackerFields", bad, ({ user, fields, field }) =>
      refused(() => store.createRefreshTracker(user as User, fields as never), InvalidFieldsError, new RegExp(`^${field}$`)),
    );
  });

  it("hostile refresh families: refused naming refreshFamily, or (well-formed but unknown) not found; nothing changed", async () => {
    const malformed = fc.oneof(notAString, fc.constant(""), overlong(64));
    const unknown = fc.oneof(fc.string({ unit: "binary", minLength: 1, maxLength: 64 }), unstorable).filter((f) => f.length <= 64);
    const calls = fc.constantFrom("find", "exchange", "revoke");
    await check("refreshFamily", fc.tuple(fc.oneof(malformed, unknown), calls), async ([family, call]) => {
      const attempt = {
        find: () => store.findRefreshTracker(family as string),
        exchange: () => store.exchangeRefreshTracker(family as string, 1),
        revoke: () => store.revokeRefreshTracker(family as string),
      }[call];
      const wellFormed = typeof family === "string" && family !== "" && family.length <= 64;
      if (!wellFormed || hasLoneSurrogate(family) || family.includes("\0")) return refused(attempt, InvalidFieldsError, /^refreshFamily$/);
      const before = await counts();
      const answer = await attempt();
      expect(answer === null || answer === false || (answer as { outcome?: string }).outcome === "not-found").toBe(true);
      expect(await counts()).toEqual(before);
    });
  });

  it("bad generations and exchange options on a real family: InvalidFieldsError naming the field, the family unchanged", async () => {
    const badGen = fc.oneof(
      fc.integer({ max: 0 }),
      fc.double().filter((d) => !Number.isSafeInteger(d)),
      fc.constant(2 ** 53),
      // Not notAString: a positive whole number is a valid generation (an exchange at it, not a refusal).
      fc.oneof(fc.string(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.object()),
    );
    const badMs = fc.oneof(fc.integer({ max: 0 }), fc.constantFrom(Number.NaN, Infinity, -Infinity), fc.string());
    const badNow = fc.oneof(fc.constant(new Date(Number.NaN)), fc.string(), fc.integer());
    const cases = fc.tuple(
      fc.constantFrom(...[0, 1, 2]),
      fc.oneof(
        badGen.map((gen) => ({ gen, options: {}, field: "gen" })),
        badMs.map((maxIdleMs) => ({ gen: 1, options: { maxIdleMs }, field: "maxIdleMs" })),
        badNow.map((now) => ({ gen: 1, options: { now }, field: "now" })),
      ),
    );
    await check("exchangeArguments", cases, ([which, { gen, options, field }]) =>
      refused(
        () => store.exchangeRefreshTracker(families[which], gen as number, options as never),
        InvalidFieldsError,
        new RegExp(`^${field}$`),
      ),
    );
  });

  it("resetUserAccess of an unsaved, malformed or unknown user: InvalidFieldsError naming id, no user or tracker changed", async () => {
    const users = fc.oneof(
      notSavedUser,
      fc.integer({ min: 1_000_000, max: 2 ** 31 - 1 }).map((id) => ({ id })),
      fc.integer({ max: 0 }).map((id) => ({ id })),
    );
    await check("resetAccess", users, (user) => refused(() => store.resetUserAccess(user as User), InvalidFieldsError, /^id$/));
  });
});
