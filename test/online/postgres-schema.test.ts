/**
 * PostgreSQL, tables outside `public` by the DataSource's `schema` option: the online upgrade (V1 to V4, every
 * step) finds the migrations table where TypeORM put it (in that schema), records each step there, and leaves
 * nothing in `public`; afterwards TypeORM's own runner has nothing left to run and the schema builder wants
 * nothing.
 */
import { planOnlineUpgrade, upgradeOnline } from "../../src";
import { v1User } from "../support/population";
import { describeOnDatabase } from "../support/database";
import { APPS, MIGRATIONS } from "./support/apps";

const SCHEMA = "auth_online";
/** The DataSource option (a PostgreSQL-only option, which the test support's option type does not list). */
const IN_SCHEMA = { schema: SCHEMA } as object;

describeOnDatabase("postgres", "online upgrade in a PostgreSQL schema", (db) => {
  it("V1 to V4 in one command by the DataSource's schema option: recorded in that schema's migrations table, nothing in public", async () => {
    const admin = await db.dataSource([]);
    await admin.query(`CREATE SCHEMA ${SCHEMA}`);
    const v1 = await db.dataSource([...APPS[1]], { migrations: MIGRATIONS[1], ...IN_SCHEMA });
    await v1.runMigrations({ transaction: "all" });
    // Through the entity, which knows the schema (the shared fill writes to unqualified tables).
    await v1
      .createQueryBuilder()
      .insert()
      .into(APPS[1][0])
      .values(Array.from({ length: 50 }, (_, i) => v1User(i)))
      .execute();
    await v1.destroy();

    const v4 = await db.dataSource([...APPS[4]], { migrations: MIGRATIONS[4], ...IN_SCHEMA });
    expect(await planOnlineUpgrade(v4)).toMatchObject({ fromVersion: 1, toVersion: 4, done: false });
    expect(await upgradeOnline(v4, { complete: true, batchMs: 5 })).toMatchObject({ fromVersion: 1, toVersion: 4, done: true });
    const recorded = await admin.query(`SELECT name FROM ${SCHEMA}.migrations ORDER BY id`);
    expect(recorded.map((r: { name: string }) => r.name)).toEqual(MIGRATIONS[4].map((m) => new m().name));
    expect(await admin.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)).toEqual([]);
    const [counts] = await admin.query(
      `SELECT COUNT(*)::int AS users, COUNT(DISTINCT fs_token_uniquifier)::int AS tokens, COUNT(DISTINCT fs_webauthn_user_handle)::int AS handles FROM ${SCHEMA}."user"`,
    );
    expect(counts).toEqual({ users: 50, tokens: 50, handles: 50 });
    expect(await v4.showMigrations()).toBe(false);
    expect((await v4.driver.createSchemaBuilder().log()).upQueries).toEqual([]);
  });
});
