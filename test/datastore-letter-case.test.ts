/**
 * "The same email (or username) in any letter case" means equal after Unicode's simple lower-case mapping and
 * nothing more, on every database: ß/ẞ, Turkish İ/ı, Greek Σ/σ/ς, Cyrillic, fullwidth letters, the Kelvin
 * sign, combining accents. The datastore refuses and finds exactly the letter-case variants, never an accent,
 * width, ß→ss or final-sigma look-alike, on SQLite (whose NOCASE folds ASCII only), PostgreSQL (also in a
 * database under the C locale, whose lower() folds ASCII only) and MariaDB (whose `_ci` collation folds
 * accents too). Also: exactly what each database refuses by itself, for writes that bypass the datastore.
 */
import type { DataSource } from "typeorm";
import { DuplicateValueError, SecurityDatastore } from "../src";
import { isAscii, lowerCase } from "../src/datastore/letter-case";
import { securityMigrationsV3, securityMigrationsV1 } from "../migrations";
import { appAddDisplayName } from "./fixtures/app-migrations";
import * as v1 from "./fixtures/app-v1";
import { Role, User, WebAuthn } from "./fixtures/app-v3";
import { DATABASE_KINDS, skipReason } from "./support/servers";
import type { DatabaseKind } from "./support/servers";
import { TestDatabase, withPg } from "./support/database";

const HASH = "$2b$12$letter-case-test-hash";

/** Pairs that are letter-case variants of each other: the second is refused beside the first, and finds it. */
const SAME: Array<[string, string, string]> = [
  ["ß and ẞ", "straße@example.com", "STRAẞE@example.com"],
  ["Turkish İ (lower-cases to i)", "izmir@example.com", "İZMİR@example.com"],
  ["Greek Σ and σ", "σοφια@example.com", "ΣΟΦΙΑ@example.com"],
  ["Cyrillic", "дмитрий@example.com", "ДМИТРИЙ@example.com"],
  ["fullwidth letters", "ｆｕｌｌ@example.com", "ＦＵＬＬ@example.com"],
  ["combining accents", "e\u0301lan@example.com", "E\u0301LAN@example.com"],
  ["the Kelvin sign (lower-cases to k)", "kelvin@example.com", "\u212AELVIN@example.com"],
  ["an ASCII spelling of a stored Kelvin sign", "\u212Aate@example.com", "KATE@example.com"],
];

/** Pairs that are not letter-case variants: the datastore accepts both and never finds one for the other. */
const DIFFERENT: Array<[string, string, string]> = [
  ["ß is not ss", "strasse@example.com", "straße@example.com"],
  ["accents", "ada@example.com", "ädà@example.com"],
  ["width", "wide@example.com", "ｗｉｄｅ@example.com"],
  ["dotless ı is not i", "irmak@example.com", "ırmak@example.com"],
  ["final ς is not σ", "λογοσ@example.com", "λογος@example.com"],
  ["a precomposed é is not e + U+0301", "\u00e9mile@example.com", "e\u0301mile@example.com"],
];

/** What each database refuses by itself beside `a`, for writes around the datastore (the V3 tables). */
const REFUSED_BY_THE_DATABASE: Record<string, Array<[string, string]>> = {
  sqlite: [["ada@example.com", "ADA@example.com"]],
  postgres: [
    ["ada@example.com", "ADA@example.com"],
    ["ädà@example.com", "ÄDÀ@example.com"],
  ],
  "postgres (C locale)": [["ada@example.com", "ADA@example.com"]],
  mariadb: [
    ["ada@example.com", "ADA@example.com"],
    ["ädà@example.com", "ÄDÀ@example.com"],
    ["ada@example.com", "ädà@example.com"],
    ["strasse@example.com", "straße@example.com"],
    ["wide@example.com", "ｗｉｄｅ@example.com"],
  ],
};
const ACCEPTED_BY_THE_DATABASE: Record<string, Array<[string, string]>> = {
  sqlite: [
    ["ädà@example.com", "ÄDÀ@example.com"],
    ["straße@example.com", "STRAẞE@example.com"],
  ],
  postgres: [["strasse@example.com", "straße@example.com"]],
  "postgres (C locale)": [
    ["ädà@example.com", "ÄDÀ@example.com"],
    ["дмитрий@example.com", "ДМИТРИЙ@example.com"],
  ],
  mariadb: [["straße@example.com", "STRAẞE@example.com"]],
};

/** A PostgreSQL database whose lower() folds ASCII letters only. */
class CLocaleDatabase extends TestDatabase {
  override async create(): Promise<void> {
    await withPg((c) => c.query(`CREATE DATABASE ${this.name} LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`));
  }
}

const TARGETS: Array<{ title: string; kind: DatabaseKind; make: () => TestDatabase }> = [
  ...DATABASE_KINDS.map((kind) => ({ title: kind, kind, make: () => new TestDatabase(kind) })),
  { title: "postgres (C locale)", kind: "postgres", make: () => new CLocaleDatabase("postgres") },
];

for (const target of TARGETS) {
  const reason = skipReason(target.kind);
  (reason ? describe.skip : describe)(`letter case [${target.title}]${reason ? ` SKIPPED: ${reason}` : ""}`, () => {
    const db = target.make();
    let ds: DataSource;
    let store: SecurityDatastore<User, Role>;
    let n = 0;
    /** `email` under a domain of its own, so every case starts from an empty neighbourhood. */
    const fresh = (email: string, domain: string) => email.replace("@example.com", `@${domain}.example.com`);

    beforeAll(async () => {
      await db.create();
      ds = await db.dataSource([User, Role, WebAuthn], { migrations: [...securityMigrationsV3, appAddDisplayName("user")] });
      await ds.runMigrations();
      store = new SecurityDatastore(ds, User, Role);
    });
    afterAll(() => db.drop());

    it.each(SAME)("%s: the variant is refused (DuplicateValueError naming email) and finds the stored user", async (_, stored, variant) => {
      const domain = `same${++n}`;
      const user = await store.createUser({ email: fresh(stored, domain), password: HASH });
      const error = await store.createUser({ email: fresh(variant, domain), password: HASH }).catch((e) => e);
      expect(error).toBeInstanceOf(DuplicateValueError);
      expect([error.field, error.message]).toEqual([
        "email",
        "User.email: another user already has this email (compared in any letter case)",
      ]);
      expect((await store.findUserByEmail(fresh(stored, domain)))?.id).toBe(user.id);
      if (!isAscii(variant) || isAscii(stored)) {
        // A lookup by an ASCII spelling stays on the index, where SQLite's and a C locale's fold cannot see a
        // stored Kelvin sign: it may answer null there (never another user). Every other lookup finds it.
        expect((await store.findUserByEmail(fresh(variant, domain)))?.id).toBe(user.id);
      } else {
        expect([user.id, undefined]).toContain((await store.findUserByEmail(fresh(variant, domain)))?.id);
      }
    });

    it.each(DIFFERENT)("%s: both are users of their own; a lookup finds only its own spelling's", async (_, first, second) => {
      const domain = `different${++n}`;
      const a = await store.createUser({ email: fresh(first, domain), password: HASH });
      const b = await store.createUser({ email: fresh(second, domain), password: HASH }).catch((e) => e);
      if (b instanceof Error) {
        // Only MariaDB/MySQL refuse some of these, by their own unique index (its `_ci` collation also ignores
        // accents and width, and reads ß as ss): the datastore does not, and says whose comparison it was.
        expect(target.kind).toBe("mariadb");
        expect([b.constructor.name, (b as DuplicateValueError).field, b.message]).toEqual([
          "DuplicateValueError",
          "email",
          "User.email: another user already has this email (as the database compares it)",
        ]);
        expect(await store.findUserByEmail(fresh(second, domain))).toBeNull();
      } else {
        expect((await store.findUserByEmail(fresh(second, domain)))?.id).toBe(b.id);
      }
      expect((await store.findUserByEmail(fresh(first, domain)))?.id).toBe(a.id);
      expect((await store.findUserByEmail(fresh(first, domain).toUpperCase()))?.id).toBe(a.id);
    });

    it("usernames: the same rules (ẞ, Σ, Cyrillic refused as variants; ß/ss and accents are other names)", async () => {
      const owner = await store.createUser({ email: "names@example.com", username: "Straße-Σοφία-Дима", password: HASH });
      for (const variant of ["STRAẞE-ΣΟΦΊΑ-ДИМА", "straße-σοφία-дима"]) {
        const error = await store.createUser({ email: `v${++n}@example.com`, username: variant, password: HASH }).catch((e) => e);
        expect([error.constructor.name, error.field]).toEqual(["DuplicateValueError", "username"]);
        expect((await store.findUserByUsername(variant))?.id).toBe(owner.id);
      }
      expect(await store.findUserByUsername("Strasse-Σοφία-Дима")).toBeNull();
      expect(await store.findUserByUsername("Straße-Σοφια-Дима")).toBeNull();
    });

    it("characters beyond the Basic Multilingual Plane (𝒜, 😀, 𐐀/𐐨) are compared, locked and found like any other", async () => {
      const owner = await store.createUser({ email: "astral@example.com", username: "𝒜-😀-𐐀", password: HASH });
      const error = await store.createUser({ email: "astral2@example.com", username: "𝒜-😀-𐐨", password: HASH }).catch((e) => e);
      expect([error.constructor.name, error.field]).toEqual(["DuplicateValueError", "username"]);
      expect((await store.findUserByUsername("𝒜-😀-𐐨"))?.id).toBe(owner.id);
      expect(await store.findUserByUsername("𝒜-😁-𐐀")).toBeNull();
    });

    it("what the database refuses by itself, for writes around the datastore (V3)", async () => {
      const users = ds.getRepository(User);
      const insert = (email: string) =>
        users.insert({
          email,
          password: HASH,
          active: true,
          fsUniquifier: `u${++n}`,
          fsTokenUniquifier: `t${n}`,
          fsWebauthnUserHandle: `h${n}`,
        });
      const outcome = async (first: string, second: string) => {
        const domain = `raw${++n}`;
        await insert(fresh(first, domain));
        return insert(fresh(second, domain)).then(
          () => "accepted",
          () => "refused",
        );
      };
      for (const [first, second] of REFUSED_BY_THE_DATABASE[target.title])
        expect([first, second, await outcome(first, second)]).toEqual([first, second, "refused"]);
      for (const [first, second] of ACCEPTED_BY_THE_DATABASE[target.title])
        expect([first, second, await outcome(first, second)]).toEqual([first, second, "accepted"]);
    });

    it("V1 (no case-insensitive index at all): the datastore alone refuses and finds the variants", async () => {
      const v1db = target.make();
      await v1db.create();
      try {
        const v1ds = await v1db.dataSource([v1.User, v1.Role], { migrations: securityMigrationsV1 });
        await v1ds.runMigrations();
        const v1store = new SecurityDatastore(v1ds, v1.User, v1.Role);
        for (const [, stored, variant] of SAME.slice(0, 6)) {
          const user = await v1store.createUser({ email: stored, password: HASH });
          await expect(v1store.createUser({ email: variant, password: HASH })).rejects.toBeInstanceOf(DuplicateValueError);
          expect((await v1store.findUserByEmail(variant))?.id).toBe(user.id);
        }
        for (const [, first, second] of DIFFERENT) {
          const domain = `v1d${++n}`;
          await v1store.createUser({ email: fresh(first, domain), password: HASH });
          await v1store
            .createUser({ email: fresh(second, domain), password: HASH })
            .catch((e) => expect([target.kind, e.field]).toEqual(["mariadb", "email"]));
          expect((await v1store.findUserByEmail(fresh(second, domain)))?.email ?? null).not.toBe(fresh(first, domain));
        }
      } finally {
        await v1db.drop();
      }
    });
  });
}

it("lowerCase is Unicode's simple lower-case mapping: one character for one, no folding beyond letter case", () => {
  expect(lowerCase("STRAẞE İ I ı ΟΔΟΣ ς ДИМА ＡＢＣ \u212A É E\u0301")).toBe("straße i i ı οδοσ ς дима ａｂｃ k é e\u0301");
});
