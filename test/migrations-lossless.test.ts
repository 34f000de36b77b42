/**
 * Lossless: 10,000 users with roles and every V1 column filled go through V1 to V2, down, and up again;
 * every value that exists in both versions is identical after each step (full dumps compared, timestamps
 * included: a migration is not a user's update), and every user gets a distinct random token uniquifier.
 */
import type { DataSource } from "typeorm";
import { securityMigrationsV1, securityMigrationsV2 } from "../migrations";
import * as v1 from "./fixtures/app-v1";
import * as v2 from "./fixtures/app-v2";
import { describeEachDatabase } from "./support/database";
import { USERS, V1_USER_COLUMNS, v1User } from "./support/population";

describeEachDatabase("migrations lose nothing (10,000 users)", (db) => {
  let ds: DataSource;
  let initial: Awaited<ReturnType<typeof dump>>;
  const userTable = () => ds.driver.escape("user");

  async function dump() {
    const columns = V1_USER_COLUMNS.map((c) => ds.driver.escape(c)).join(", ");
    return {
      users: await ds.query(`SELECT ${columns} FROM ${userTable()} ORDER BY id`),
      roles: await ds.query(`SELECT * FROM role ORDER BY id`),
      links: await ds.query(`SELECT user_id, role_id FROM roles_users ORDER BY user_id, role_id`),
    };
  }

  async function expectDistinctTokens() {
    const [row] = await ds.query(`SELECT COUNT(DISTINCT fs_token_uniquifier) AS distinct_tokens, COUNT(*) AS n FROM ${userTable()}`);
    expect(Number(row.distinct_tokens)).toBe(USERS);
    expect(Number(row.n)).toBe(USERS);
    const tokens: Array<{ t: string }> = await ds.query(`SELECT fs_token_uniquifier AS t FROM ${userTable()}`);
    expect(tokens.every(({ t }) => /^[0-9a-f]{64}$/.test(t))).toBe(true);
  }

  beforeAll(async () => {
    ds = await db.dataSource([v1.User, v1.Role], { migrations: securityMigrationsV1 });
    await ds.runMigrations();
    const roles = await ds.getRepository(v1.Role).save(
      ["admin", "editor", "viewer", "billing", "support"].map((name, i) => ds.getRepository(v1.Role).create({ name, description: `The ${name}s`, permissions: [`${name}-read`, `${name}-write`].slice(0, 1 + (i % 2)), updateDatetime: new Date(Date.UTC(2021, i, 1)) })),
    );
    for (let start = 0; start < USERS; start += 500) {
      const batch = Array.from({ length: 500 }, (_, k) => v1User(start + k));
      await ds.createQueryBuilder().insert().into(v1.User).values(batch).execute();
    }
    const ids: Array<{ id: number }> = await ds.query(`SELECT id FROM ${userTable()} ORDER BY id`);
    const links = ids.flatMap(({ id }) => roles.filter((_, r) => (id + r) % 3 === 0 || r === id % 5).map((role) => [id, role.id]));
    for (let start = 0; start < links.length; start += 1000) {
      const chunk = links.slice(start, start + 1000);
      await ds.query(`INSERT INTO roles_users (user_id, role_id) VALUES ${chunk.map(([u, r]) => `(${u}, ${r})`).join(", ")}`);
    }
    initial = await dump();
    expect(initial.users).toHaveLength(USERS);
    expect(initial.links.length).toBeGreaterThan(USERS);
    await ds.destroy();
    ds = await db.dataSource([v2.User, v2.Role], { migrations: securityMigrationsV2 });
  });

  it("up: every V1 value identical, every user a distinct random token uniquifier", async () => {
    await ds.runMigrations({ transaction: "all" });
    expect(await dump()).toEqual(initial);
    await expectDistinctTokens();
  });

  it("down: every V1 value identical", async () => {
    await ds.undoLastMigration({ transaction: "all" });
    expect(await dump()).toEqual(initial);
  });

  it("up again: every V1 value identical, fresh distinct tokens", async () => {
    await ds.runMigrations({ transaction: "all" });
    expect(await dump()).toEqual(initial);
    await expectDistinctTokens();
  });
});
