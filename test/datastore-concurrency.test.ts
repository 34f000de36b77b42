/**
 * The datastore under concurrent calls, on each database: 50 concurrent sign-ups with letter-case variants of
 * one email, and of one username, at V1, V2 and V3 (tables made by the shipped migrations) leave exactly one
 * row and give the others a DuplicateValueError naming the field; concurrent toggles each return their own
 * flip's value; concurrent findOrCreateRole calls all return the one role that got created.
 */
import type { DataSource } from "typeorm";
import { DuplicateValueError, SecurityDatastore } from "../src";
import { lowerCase } from "../src/datastore/letter-case";
import { securityMigrationsV3, securityMigrationsV1, securityMigrationsV2 } from "../migrations";
import { appAddDisplayName } from "./fixtures/app-migrations";
import * as v1 from "./fixtures/app-v1";
import * as v2 from "./fixtures/app-v2";
import * as v3 from "./fixtures/app-v3";
import { describeEachDatabase, TestDatabase } from "./support/database";

const HASH = "$2b$12$concurrency-test-hash";
const RACERS = 50;

const VERSIONS = [
  { version: 1, User: v1.User, Role: v1.Role, entities: [v1.User, v1.Role], migrations: securityMigrationsV1 },
  {
    version: 2,
    User: v2.User,
    Role: v2.Role,
    entities: [v2.User, v2.Role],
    migrations: [...securityMigrationsV2, appAddDisplayName("user")],
  },
  {
    version: 3,
    User: v3.User,
    Role: v3.Role,
    entities: [v3.User, v3.Role, v3.WebAuthn],
    migrations: [...securityMigrationsV3, appAddDisplayName("user")],
  },
];

/** `count` distinct letter-case variants of `value` (which needs enough letters), the same on every run. */
function caseVariants(value: string, count: number): string[] {
  const variants = new Set<string>();
  let state = 12345;
  while (variants.size < count) {
    variants.add(
      [...value]
        .map((c) => {
          state = (state * 1103515245 + 12345) % 2 ** 31;
          return (state >> 16) & 1 ? c.toUpperCase() : c.toLowerCase();
        })
        .join(""),
    );
  }
  return [...variants];
}

type Store = SecurityDatastore<v1.User | v2.User | v3.User, v1.Role>;

describeEachDatabase("datastore under concurrency", (db) => {
  for (const v of VERSIONS) {
    describe(`V${v.version}`, () => {
      const database = new TestDatabase(db.kind);
      let ds: DataSource;
      let store: Store;

      beforeAll(async () => {
        await database.create();
        ds = await database.dataSource(v.entities, { migrations: v.migrations, poolSize: 10 });
        await ds.runMigrations();
        // Every pooled connection open before the races, so that no call finishes while others still connect.
        await Promise.all(Array.from({ length: 10 }, () => ds.query("SELECT 1")));
        store = new SecurityDatastore(ds, v.User as typeof v1.User, v.Role);
      });
      afterAll(() => database.drop());

      /** The stored values of `column` equal to `value` in any letter case. */
      async function stored(column: string, value: string): Promise<string[]> {
        const rows: Array<{ value: string | null }> = await ds.query(`SELECT ${column} AS value FROM ${ds.driver.escape("user")}`);
        return rows.map((r) => r.value ?? "").filter((s) => lowerCase(s) === lowerCase(value));
      }

      it(`${RACERS} concurrent createUser with case variants of one email: one row, the others DuplicateValueError naming email`, async () => {
        const variants = caseVariants("case.variant.race@example.com", RACERS);
        const results = await Promise.allSettled(variants.map((email) => store.createUser({ email, password: HASH })));
        const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason);
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        expect(refused.map((e) => [e.constructor.name, e.field])).toEqual(refused.map(() => ["DuplicateValueError", "email"]));
        expect(await stored("email", variants[0])).toHaveLength(1);
      });

      it(`${RACERS} concurrent createUser with case variants of one username: one row, the others DuplicateValueError naming username`, async () => {
        const variants = caseVariants("Race.Condition.Username", RACERS);
        const results = await Promise.allSettled(
          variants.map((username, i) => store.createUser({ email: `racer${i}@example.com`, username, password: HASH })),
        );
        const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason);
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        expect(refused.every((e) => e instanceof DuplicateValueError)).toBe(true);
        expect(refused.map((e) => e.field)).toEqual(refused.map(() => "username"));
        expect(await stored("username", variants[0])).toHaveLength(1);
      });

      it("concurrent toggleActive calls each return the value their own flip wrote", async () => {
        const user = await store.createUser({ email: `toggle@example.com`, password: HASH });
        const copies = await Promise.all(Array.from({ length: 24 }, () => store.findUserByEmail("toggle@example.com")));
        const returned = await Promise.all(copies.map((copy) => store.toggleActive(copy!)));
        // 24 flips from true, one after another in the database: 12 wrote false and 12 wrote true.
        expect([returned.filter((a) => !a).length, returned.filter((a) => a).length]).toEqual([12, 12]);
        expect((await store.findUserByEmail("toggle@example.com"))!.active).toBe(true);
        expect(await store.toggleActive(user)).toBe(false);
      });

      it("concurrent findOrCreateRole calls for one name all return the one role created", async () => {
        const roles = await Promise.all(Array.from({ length: 20 }, () => store.findOrCreateRole("race-role", { permissions: ["x"] })));
        const [{ n }] = await ds.query(`SELECT COUNT(*) AS n FROM role WHERE name = 'race-role'`);
        expect(Number(n)).toBe(1);
        expect(new Set(roles.map((r) => r.id)).size).toBe(1);
        expect(roles.every((r) => r.name === "race-role" && r.permissions.join() === "x")).toBe(true);
      });
    });
  }
});
