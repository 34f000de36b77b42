/**
 * Every blocking condition of every shipped migration, on every database and in both of the runner's
 * transaction modes: the migration throws its typed error and the database is exactly as before, schema and
 * rows (a full dump of both, TypeORM's `migrations` table included). MariaDB/MySQL commit each DDL statement
 * at once, so there this holds only when every refusal comes before the first change.
 */
import type { DataSource, DataSourceOptions } from "typeorm";
import { securityMigrationsV3, securityMigrationsV1, securityMigrationsV2 } from "../migrations";
import * as v1 from "./fixtures/app-v1";
import * as v2 from "./fixtures/app-v2";
import * as v3 from "./fixtures/app-v3";
import { appAddDisplayName } from "./fixtures/app-migrations";
import { describeEachDatabase, TestDatabase } from "./support/database";
import { databaseDump } from "./support/dump";
import type { DatabaseKind } from "./support/servers";

type Entities = NonNullable<DataSourceOptions["entities"]>;
type Migrations = NonNullable<DataSourceOptions["migrations"]>;

const V2_MIGRATIONS = [...securityMigrationsV2, appAddDisplayName("user")];
const V3_MIGRATIONS = [...securityMigrationsV3, appAddDisplayName("user")];

/** Roles, users and links of any version, through `entities` (User first, Role second), plus `extra` users. */
async function seed(ds: DataSource, [User, Role]: Function[], extra: Array<Record<string, unknown>> = []): Promise<void> {
  const roles = ds.getRepository(Role);
  const admin = await roles.save(roles.create({ name: "admin", permissions: ["user-admin"] }));
  const editor = await roles.save(roles.create({ name: "editor", permissions: ["post-read", "post-write"] }));
  const users = ds.getRepository(User);
  const rows = [
    {
      email: "ada@example.com",
      password: "hash-1",
      roles: [admin, editor],
      loginCount: 3,
      confirmedAt: new Date("2024-01-02T12:30:15.123Z"),
    },
    { email: "bob@example.com", password: "hash-2", roles: [editor] },
    ...extra,
  ];
  for (const row of rows) await users.save(users.create(row));
}

/** A table the app (or someone) made under one of the names a migration wants to create. */
async function foreignTable(ds: DataSource, name: string): Promise<void> {
  const q = (n: string) => ds.driver.escape(n);
  await ds.query(`CREATE TABLE ${q(name)} (${q("id")} integer PRIMARY KEY, ${q("note")} varchar(20))`);
  await ds.query(`INSERT INTO ${q(name)} (${q("id")}, ${q("note")}) VALUES (7, 'keep me')`);
}

type Open = (entities: Entities, migrations: Migrations) => Promise<DataSource>;

interface Refusal {
  title: string;
  /** The databases where the condition can exist (default: all). */
  only?: DatabaseKind[];
  /** Brings the empty database to the state the refused run starts from. */
  prepare: (open: Open) => Promise<void>;
  /** The app whose run is refused. */
  entities: Entities;
  migrations: Migrations;
  direction: "up" | "down";
  error: { name: string; rule: string; field?: string };
}

/**
 * Prepares a database at a schema version (the app's entities and migrations for it), seeded with `extra`
 * users beside the usual ones, then `then` done to it.
 */
const seededAt =
  (
    app: { entities: Function[]; migrations: Migrations },
    extra: Array<Record<string, unknown>> = [],
    then?: (ds: DataSource) => Promise<unknown>,
  ) =>
  async (open: Open) => {
    const ds = await open(app.entities, app.migrations);
    await ds.runMigrations();
    await seed(ds, app.entities, extra);
    await then?.(ds);
  };

const AT_V1 = { entities: [v1.User, v1.Role], migrations: securityMigrationsV1 };
const AT_V2 = { entities: [v2.User, v2.Role], migrations: V2_MIGRATIONS };
const V3_UP = { entities: [v3.User, v3.Role, v3.WebAuthn], migrations: V3_MIGRATIONS, direction: "up" as const };
/** An empty database with TypeORM's migrations table, which its runner makes first, outside any transaction. */
const migrationsTableOnly = (then?: (ds: DataSource) => Promise<unknown>) => async (open: Open) => {
  const ds = await open([v1.User, v1.Role], []);
  await ds.runMigrations();
  await then?.(ds);
};

const REFUSALS: Refusal[] = [
  {
    title: "V1 up: a table it would create exists already",
    prepare: migrationsTableOnly((ds) => foreignTable(ds, "roles_users")),
    ...AT_V1,
    direction: "up",
    error: { name: "MigrationBlockedError", rule: "table-exists", field: "(table)" },
  },
  {
    title: "V1 up: no User entity registered",
    prepare: migrationsTableOnly(),
    entities: [v1.Role],
    migrations: securityMigrationsV1,
    direction: "up",
    error: { name: "SecurityEntitiesNotFoundError", rule: "user-entity-missing" },
  },
  {
    title: "V2 up: two users share a username",
    prepare: seededAt(AT_V1, [
      { email: "c1@example.com", password: "h", username: "carl" },
      { email: "c2@example.com", password: "h", username: "carl" },
    ]),
    ...AT_V2,
    direction: "up",
    error: { name: "MigrationBlockedError", rule: "duplicate-values", field: "username" },
  },
  {
    title: "V3 up: the User entity is older than V3",
    prepare: seededAt(AT_V2),
    entities: AT_V2.entities,
    migrations: V3_MIGRATIONS,
    direction: "up",
    error: { name: "MigrationBlockedError", rule: "entity-older-than-migration" },
  },
  {
    title: "V3 up: two users share a phone number",
    prepare: seededAt(AT_V2, [
      { email: "p1@example.com", password: "h", usPhoneNumber: "+16505550101" },
      { email: "p2@example.com", password: "h", usPhoneNumber: "+16505550101" },
    ]),
    ...V3_UP,
    error: { name: "MigrationBlockedError", rule: "duplicate-values", field: "us_phone_number" },
  },
  {
    title: "V3 up: two emails differ only in letter case",
    only: ["sqlite", "postgres"], // MariaDB's case-insensitive collation refuses them before V3
    prepare: seededAt(AT_V2, [{ email: "ADA@example.com", password: "h" }]),
    ...V3_UP,
    error: { name: "MigrationBlockedError", rule: "case-duplicates", field: "email" },
  },
  {
    title: "V3 up: the WebAuthn table exists already",
    prepare: seededAt(AT_V2, [], (ds) => foreignTable(ds, "web_authn")),
    ...V3_UP,
    error: { name: "MigrationBlockedError", rule: "table-exists", field: "(table)" },
  },
  {
    title: "V3 up: the email column compares case-sensitively",
    only: ["mariadb"],
    prepare: seededAt(AT_V2, [], (ds) => ds.query("ALTER TABLE `user` MODIFY `email` varchar(255) NOT NULL COLLATE utf8mb4_bin")),
    ...V3_UP,
    error: { name: "MigrationBlockedError", rule: "case-sensitive-collation", field: "email" },
  },
  {
    title: "V3 down: users without a password",
    // The app's own migration ran last; undone first, so the next undo is V3's.
    prepare: seededAt(V3_UP, [{ email: "passkey-only@example.com", password: null }], (ds) => ds.undoLastMigration()),
    ...V3_UP,
    direction: "down",
    error: { name: "MigrationBlockedError", rule: "null-values", field: "password" },
  },
];

describeEachDatabase("a refused migration changes nothing", (db: TestDatabase) => {
  jest.setTimeout(120_000);
  let current: DataSource | undefined;
  const open = async (entities: Entities, migrations: Migrations, dropSchema = false) => {
    if (current?.isInitialized) await current.destroy();
    current = await db.dataSource(entities, { migrations, dropSchema });
    return current;
  };
  afterAll(() => current?.isInitialized && current.destroy());

  const cases = REFUSALS.filter((r) => !r.only || r.only.includes(db.kind)).flatMap((refusal) =>
    (["all", "none"] as const).map((transaction) => ({ ...refusal, transaction })),
  );

  it.each(cases)("$title (transaction: $transaction)", async ({ prepare, entities, migrations, direction, error, transaction }) => {
    await open([], [], true); // start from an empty database
    await prepare(open);
    const ds = await open(entities, migrations);
    const before = await databaseDump(ds, db.kind);

    const run = direction === "up" ? ds.runMigrations({ transaction }) : ds.undoLastMigration({ transaction });
    const thrown = await run.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(thrown).toMatchObject(error);
    expect((thrown as Error).message).toMatch(/Nothing was changed|Register it beside the migrations/);

    expect(await databaseDump(ds, db.kind)).toBe(before);
  });
});
