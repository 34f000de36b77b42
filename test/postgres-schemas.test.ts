/**
 * PostgreSQL schemas: an app whose tables live outside `public`, by the DataSource's `schema` option or by
 * `@Entity({ schema })`. The shipped migrations create the tables there (and nothing in `public`), up and
 * down; the result is drift-free; `securitySchemaStatus` and the datastore work there; a missing schema is
 * refused before any change; `adopt` either works (the session starts in that schema) or refuses, changing nothing.
 */
import type { DataSource, DataSourceOptions, MigrationInterface, QueryRunner } from "typeorm";
import { readFileSync } from "fs";
import { join } from "path";
import {
  adoptFlaskSecurityDatabase,
  AdoptionBlockedError,
  MigrationBlockedError,
  planFlaskSecurityAdoption,
  SecurityDatastore,
  securitySchemaStatus,
} from "../src";
import { securityMigrationsV3 } from "../migrations";
import * as v3 from "./fixtures/app-v3";
import * as inAuth from "./fixtures/app-v3-schema";
import { describeOnDatabase } from "./support/database";
import { databaseDump } from "./support/dump";

const SCHEMA = inAuth.SCHEMA;
/** The app's own migration, adding its column in the schema. */
class AppAddDisplayNameInAuth1800000000000 implements MigrationInterface {
  name = "AppAddDisplayNameInAuth1800000000000";
  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "${SCHEMA}"."user" ADD COLUMN display_name varchar(80) NULL`);
  }
  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "${SCHEMA}"."user" DROP COLUMN display_name`);
  }
}
const MIGRATIONS = [...securityMigrationsV3, AppAddDisplayNameInAuth1800000000000];

const ways = [
  { label: "the DataSource's schema option", entities: [v3.User, v3.Role, v3.WebAuthn], extra: { schema: SCHEMA } },
  { label: "@Entity({ schema })", entities: [inAuth.User, inAuth.Role, inAuth.WebAuthn], extra: {} },
];

describeOnDatabase("postgres", "PostgreSQL schemas", (db) => {
  jest.setTimeout(120_000);
  let current: DataSource | undefined;
  const open = async (entities: Function[], extra: object, migrations: DataSourceOptions["migrations"] = MIGRATIONS) => {
    if (current?.isInitialized) await current.destroy();
    current = await db.dataSource(entities, { migrations, ...extra });
    return current;
  };
  afterAll(() => current?.isInitialized && current.destroy());
  const tablesIn = async (ds: DataSource, schema: string) =>
    (await ds.query(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`, [schema])).map(
      (r: { t: string }) => r.t,
    );

  describe.each(ways)("by $label", (way) => {
    beforeEach(async () => {
      const admin = await open([], {}, []);
      await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
      await admin.query(`DROP TABLE IF EXISTS migrations`);
      await admin.query(`CREATE SCHEMA ${SCHEMA}`);
    });

    it("the migrations make every table there and nothing in public; no drift; status OK; down and up again", async () => {
      const ds = await open(way.entities, way.extra);
      await ds.runMigrations();
      expect(await tablesIn(ds, SCHEMA)).toEqual(
        ["role", "roles_users", "user", "web_authn", ...("schema" in way.extra ? ["migrations"] : [])].sort(),
      );
      expect(await tablesIn(ds, "public")).toEqual("schema" in way.extra ? [] : ["migrations"]);
      expect((await ds.driver.createSchemaBuilder().log()).upQueries).toEqual([]);
      const status = await securitySchemaStatus(ds);
      expect(status).toMatchObject({ family: "ours", version: 3, pendingMigrations: [], drift: [], ok: true });
      expect(status.appliedMigrations).toHaveLength(3);
      const [index] = await ds.query(`SELECT schemaname, indexdef FROM pg_indexes WHERE indexname = 'IDX_security_email_ci'`);
      expect(index).toEqual({
        schemaname: SCHEMA,
        indexdef: expect.stringContaining(`ON ${SCHEMA}."user" USING btree (lower((email)::text))`),
      });

      for (let i = 0; i < MIGRATIONS.length; i++) await ds.undoLastMigration();
      expect(await tablesIn(ds, SCHEMA)).toEqual("schema" in way.extra ? ["migrations"] : []);
      await ds.runMigrations();
      expect((await securitySchemaStatus(ds)).ok).toBe(true);
    });

    it("the datastore creates, finds and refuses case variants there", async () => {
      const ds = await open(way.entities, way.extra);
      await ds.runMigrations();
      const store = new SecurityDatastore(ds, way.entities[0] as typeof v3.User, way.entities[1] as typeof v3.Role);
      await store.createRole({ name: "editor", permissions: ["post-read"] });
      const ada = await store.createUser({ email: "ada@example.com", password: "h" }, { roles: ["editor"] });
      expect((await store.findUserByEmail("ADA@example.com", { withRoles: true }))?.hasRole("editor")).toBe(true);
      await expect(store.createUser({ email: "Ada@Example.com", password: "h" })).rejects.toMatchObject({ name: "DuplicateValueError" });
      await store.recordLogin(ada, "192.0.2.1");
      expect(Number((await ds.query(`SELECT login_count FROM ${SCHEMA}."user" WHERE id = $1`, [ada.id]))[0].login_count)).toBe(1);
    });

    it("status finds the index that refuses case variants missing there, and says how to restore it", async () => {
      const ds = await open(way.entities, way.extra);
      await ds.runMigrations();
      await ds.query(`DROP INDEX ${SCHEMA}."IDX_security_email_ci"`);
      const status = await securitySchemaStatus(ds);
      expect(status.drift).toEqual([`CREATE UNIQUE INDEX "IDX_security_email_ci" ON "${SCHEMA}"."user" (lower("email"))`]);
      await ds.query(status.drift[0]);
      expect((await securitySchemaStatus(ds)).ok).toBe(true);
    });

    it("adopt on a database already ours says there is nothing to do", async () => {
      const ds = await open(way.entities, way.extra);
      await ds.runMigrations();
      expect(await planFlaskSecurityAdoption(ds)).toMatchObject({ action: "done", blockers: [] });
    });
  });

  /** Flask-Security 5.1.2's own fsqla v3 tables (SQLAlchemy's DDL) in the schema, with a role, a user, a link and an app column. */
  const flaskSecurityInSchema = async () => {
    const admin = await open([], {}, []);
    await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await admin.query(`DROP TABLE IF EXISTS migrations`);
    await admin.query(`CREATE SCHEMA ${SCHEMA}`);
    const inSchema = await open([], { extra: { options: `-c search_path=${SCHEMA}` } }, []);
    const ddl = readFileSync(join(__dirname, "fixtures", "flask-security-ddl", "v3-postgresql.sql"), "utf8").replace(/^--.*$/gm, "");
    for (const statement of ddl
      .split(";")
      .map((part) => part.trim())
      .filter(Boolean))
      await inSchema.query(statement);
    await inSchema.query(`ALTER TABLE "user" ADD COLUMN display_name varchar(80) NULL`);
    await inSchema.query(`INSERT INTO role (name, permissions) VALUES ('editor', 'post-read,post-write')`);
    await inSchema.query(
      `INSERT INTO "user" (email, active, fs_uniquifier, fs_webauthn_user_handle, confirmed_at) VALUES ('ada@example.com', true, '${"a".repeat(64)}', '${"b".repeat(64)}', '2024-01-02 12:30:15.123456')`,
    );
    await inSchema.query(`INSERT INTO roles_users (user_id, role_id) VALUES (1, 1)`);
  };

  it.each(ways)("adopt refuses, changing nothing, when the tables are outside the session's schema (by $label)", async (way) => {
    await flaskSecurityInSchema();
    const ds = await open(way.entities, way.extra);
    const before = await databaseDump(ds, db.kind, { schema: SCHEMA });
    const plan = await planFlaskSecurityAdoption(ds);
    expect(plan).toMatchObject({ action: "blocked", found: "Flask-Security fsqla v3" });
    expect(plan.blockers).toEqual([
      `the app's tables are in PostgreSQL schema "${SCHEMA}", and adopt works in the session's current schema ("public") only. ` +
        `To adopt them there, let the DataSource's sessions start in that schema: schema: "${SCHEMA}" and ` +
        `extra: { options: "-c search_path=${SCHEMA}" } in its options (inside withNaiveUtc), then run adopt again.`,
    ]);
    await expect(adoptFlaskSecurityDatabase(ds)).rejects.toThrow(AdoptionBlockedError);
    expect(await databaseDump(ds, db.kind, { schema: SCHEMA })).toBe(before);
    expect(await tablesIn(ds, "public")).toEqual([]);
  });

  it("adopt works there when the sessions start in that schema, as its refusal says", async () => {
    await flaskSecurityInSchema();
    const ds = await open(ways[0].entities, { schema: SCHEMA, extra: { options: `-c search_path=${SCHEMA}` } });
    expect(await adoptFlaskSecurityDatabase(ds)).toMatchObject({ action: "adopt", blockers: [] });
    expect(await securitySchemaStatus(ds)).toMatchObject({ family: "ours", version: 3, drift: [], ok: true });
    expect(await tablesIn(ds, "public")).toEqual([]);
    const ada = await ds.getRepository(v3.User).findOneOrFail({ where: { email: "ada@example.com" }, relations: { roles: true } });
    expect([ada.hasRole("editor"), ada.confirmedAt?.toISOString()]).toEqual([true, "2024-01-02T12:30:15.123Z"]);
  });

  it("security tables spread over two schemas are refused before any change, naming each table's", async () => {
    const admin = await open([], {}, []);
    await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await admin.query(`DROP TABLE IF EXISTS migrations`);
    await admin.query(`CREATE SCHEMA ${SCHEMA}`);
    await admin.runMigrations();
    const ds = await open([inAuth.User, v3.Role, inAuth.WebAuthn], {});
    const before = await databaseDump(ds, db.kind);
    await expect(ds.runMigrations()).rejects.toMatchObject({
      name: "SecurityEntitiesNotFoundError",
      rule: "tables-in-several-schemas",
      message: expect.stringContaining("user: auth, role: (default), roles_users: auth, web_authn: auth"),
    });
    expect(await databaseDump(ds, db.kind)).toBe(before);
    expect(await tablesIn(ds, SCHEMA)).toEqual([]);
  });

  it("@Entity({ schema }) naming a schema that does not exist: V1 refuses before any change, saying what to run", async () => {
    const admin = await open([], {}, []);
    await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await admin.query(`DROP TABLE IF EXISTS migrations`);
    await admin.runMigrations(); // TypeORM's runner makes its migrations table first
    const ds = await open(ways[1].entities, {});
    const before = await databaseDump(ds, db.kind);
    const error = await ds.runMigrations().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationBlockedError);
    expect(error).toMatchObject({ rule: "schema-missing" });
    expect((error as Error).message).toContain(
      `PostgreSQL schema "${SCHEMA}" does not exist. Nothing was changed. Create it first: CREATE SCHEMA "${SCHEMA}"`,
    );
    expect(await databaseDump(ds, db.kind)).toBe(before);
  });
});
