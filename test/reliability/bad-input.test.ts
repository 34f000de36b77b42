/**
 * Bad input in bulk, by property-based generation (fast-check), on each database at the newest schema version
 * (made by the shipped migrations, as an app's is), through the datastore and
 * through entity save() where the package validates (comma lists). Each bad value gets a typed error naming
 * the field and leaves the row counts (users, roles, links) and the stored values unchanged; each valid value
 * (odd Unicode, astral characters, the longest allowed, datetimes) reads back exactly as given.
 *
 * TSM_PROPERTY_CASES (default 1,200 per database, spread over the properties by weight), TSM_PROPERTY_SEED.
 */
import * as fc from "fast-check";
import type { DataSource } from "typeorm";
import { DuplicateValueError, InvalidFieldsError, InvalidListItemError, SecurityDatastore } from "../../src";
import { securityMigrationsV3 } from "../../migrations";
import { appAddDisplayName } from "../fixtures/app-migrations";
import { Role, User, WebAuthn } from "../fixtures/app-v3";
import { describeEachDatabase } from "../support/database";
import { countFrom, recordFigures, seedFrom } from "./support/figures";

const CASES = countFrom("TSM_PROPERTY_CASES", 1200);
/** Share of the cases each property gets. */
const WEIGHTS = {
  badEmail: 250,
  caseVariant: 100,
  caseVariantInDatabase: 100,
  roleName: 150,
  listItem: 200,
  badString: 150,
  roundTrip: 250,
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

  async function counts(): Promise<number[]> {
    const one = async (table: string) => Number((await ds.query(`SELECT COUNT(*) AS n FROM ${ds.driver.escape(table)}`))[0].n);
    return [await one("user"), await one("role"), await one("roles_users")];
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
    ds = await db.dataSource([User, Role, WebAuthn], { migrations: [...securityMigrationsV3, appAddDisplayName("user")], poolSize: 5 });
    await ds.runMigrations();
    store = new SecurityDatastore(ds, User, Role);
    await store.createRole({ name: "admin", permissions: ["user-admin"] });
    await store.createUser({ email: "existing@example.com", username: "existing", password: HASH }, { roles: ["admin"] });
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
});
