/**
 * Schema version 4 and its shipped migration (V3 to V4) on each database: the `fs_refresh_tracker` table as
 * fsqla v4 declares it (checked against the hand-written columns and against the table Flask-Security's own
 * DDL makes), no drift, down and up again keeping every other row, refusals before any change, and a rerun
 * after a run stopped between its DDL and its record.
 */
import { readFileSync } from "fs";
import { join } from "path";
import type { DataSource, Logger } from "typeorm";
import { MigrationBlockedError } from "../src";
import { securityMigrations, securityMigrationsV3 } from "../migrations";
import * as v3 from "./fixtures/app-v3";
import * as v4 from "./fixtures/app-v4";
import { appAddDisplayName } from "./fixtures/app-migrations";
import { describeEachDatabase } from "./support/database";
import { databaseDump, dataDump } from "./support/dump";
import { LIVE_TYPE, REFRESH_TRACKER_V1 } from "./support/expected-schema";
import { introspect } from "./support/introspect";

const V4_MIGRATIONS = [...securityMigrations, appAddDisplayName("user")];
const V3_MIGRATIONS = [...securityMigrationsV3, appAddDisplayName("user")];
const V3_ENTITIES = [v3.User, v3.Role, v3.WebAuthn];
const DIALECT = { sqlite: "sqlite", postgres: "postgresql", mariadb: "mysql" } as const;
const V4_MIGRATION = "SecurityV4RefreshTrackers1795737780000";

/** fsqla v4's CREATE TABLE fs_refresh_tracker for `kind`, as SQLAlchemy renders it, under another table name. */
function flaskSecurityTrackerDdl(kind: keyof typeof DIALECT, table: string): string {
  const ddl = readFileSync(join(__dirname, "fixtures", "flask-security-ddl", `v4-${DIALECT[kind]}.sql`), "utf8");
  const statement = ddl.split(";").find((s) => /CREATE TABLE fs_refresh_tracker/.test(s))!;
  return statement.replace(/^--.*$/gm, "").replace("CREATE TABLE fs_refresh_tracker", `CREATE TABLE ${table}`);
}

describeEachDatabase("schema version 4 (refresh trackers) and its migration", (db) => {
  /** A fresh database migrated with `migrations` for `entities`. */
  const migrated = async (entities: Function[], migrations: Function[]): Promise<DataSource> => {
    const ds = await db.dataSource(entities, { migrations, dropSchema: true });
    await ds.runMigrations({ transaction: "all" });
    return ds;
  };
  const q = (ds: DataSource, name: string) => ds.driver.escape(name);
  const param = (n: number) => (db.kind === "postgres" ? `$${n}` : "?");

  /** A user with a role link, a passkey and a refresh tracker, written with raw SQL as another app would. */
  async function population(ds: DataSource, withTracker: boolean): Promise<void> {
    const users = ds.getRepository(v4.User);
    const role = await ds.getRepository(v4.Role).save({ name: "editor", permissions: ["read"] });
    const user = await users.save(users.create({ email: "ada@example.com", password: "hash", roles: [role], mfRecoveryCodes: ["a-b"] }));
    const credentials = ds.getRepository(v4.WebAuthn);
    await credentials.save(
      credentials.create({
        credentialId: Buffer.from("cred"),
        publicKey: Buffer.from("key"),
        transports: ["usb"],
        backupState: false,
        deviceType: "single_device",
        name: "key",
        usage: "first",
        userId: user.id,
      }),
    );
    if (withTracker) {
      const trackers = ds.getRepository(v4.FsRefreshTracker);
      await trackers.save(trackers.create({ name: "phone", expiresAt: new Date(Date.now() + 86_400_000), userId: user.id }));
    }
  }

  it("up creates fs_refresh_tracker with fsqla v4's columns, types, lengths and nullability; user_id ON DELETE CASCADE and indexed", async () => {
    const ds = await migrated(v4.entities, V4_MIGRATIONS);
    const live = await introspect(ds, db.kind, "fs_refresh_tracker");
    expect([...live.columns.keys()].sort()).toEqual(REFRESH_TRACKER_V1.map((c) => c.name).sort());
    for (const expected of REFRESH_TRACKER_V1) {
      const actual = live.columns.get(expected.name)!;
      expect([expected.name, actual.type, actual.nullable]).toEqual([expected.name, LIVE_TYPE[db.kind][expected.kind], expected.nullable]);
      if (expected.kind === "varchar") expect(actual.length).toBe(expected.length);
      expect([expected.name, live.uniqueColumns.has(expected.name)]).toEqual([expected.name, expected.unique]);
    }
    expect(live.primaryKey).toEqual(["id"]);
    expect(live.foreignKeys.map((f) => [f.column, f.referencedTable, f.referencedColumn, f.onDelete.toUpperCase()])).toEqual([
      ["user_id", "user", "id", "CASCADE"],
    ]);
    const table = (await ds.createQueryRunner().getTable("fs_refresh_tracker"))!;
    expect(table.indices.some((index) => !index.isUnique && index.columnNames.join() === "user_id")).toBe(true);
  });

  it("the table is the one Flask-Security 5.9's DDL makes: same columns, types, lengths, nullability, uniqueness and foreign key", async () => {
    const ds = await migrated(v4.entities, V4_MIGRATIONS);
    await ds.query(flaskSecurityTrackerDdl(db.kind, "fsqla_refresh_tracker"));
    const ours = await introspect(ds, db.kind, "fs_refresh_tracker");
    const theirs = await introspect(ds, db.kind, "fsqla_refresh_tracker");
    const shape = (t: typeof ours) => ({
      // SQLite keeps the declared `datetime(6)` (microseconds, as on MariaDB) where SQLAlchemy declares `DATETIME`: the same affinity.
      columns: [...t.columns.values()]
        .map((c) => (c.type === "datetime" ? { ...c, length: null } : c))
        .sort((a, b) => a.name.localeCompare(b.name)),
      unique: [...t.uniqueColumns].sort(),
      primaryKey: t.primaryKey,
      foreignKeys: t.foreignKeys.map((f) => ({ ...f, onDelete: f.onDelete.toUpperCase() })),
    });
    expect(shape(ours)).toEqual(shape(theirs));
  });

  it("has no drift after the migrations, and a user's trackers go with the user (ON DELETE CASCADE)", async () => {
    const ds = await migrated(v4.entities, V4_MIGRATIONS);
    expect((await ds.driver.createSchemaBuilder().log()).upQueries.map((x) => x.query)).toEqual([]);
    await population(ds, true);
    await ds.getRepository(v4.User).delete({ email: "ada@example.com" });
    expect(await ds.getRepository(v4.FsRefreshTracker).count()).toBe(0);
  });

  it("down drops the table and the trackers in it, every other row stays; V3 has no drift; up again makes it empty and drift-free", async () => {
    let ds = await migrated(v4.entities, V4_MIGRATIONS);
    await population(ds, true);
    const withoutTrackers = async () => {
      const rows = JSON.parse(await dataDump(ds, db.kind)) as Record<string, string[]>;
      delete rows.fs_refresh_tracker;
      // By name: undoing and rerunning gives the app's own migration a new id.
      rows.migrations = rows.migrations.map((row) => JSON.parse(row).name).filter((name) => name !== V4_MIGRATION);
      return rows;
    };
    const before = await withoutTrackers();
    await ds.undoLastMigration({ transaction: "all" }); // the app's own display_name
    await ds.undoLastMigration({ transaction: "all" });
    expect(await ds.createQueryRunner().hasTable("fs_refresh_tracker")).toBe(false);
    await ds.destroy();
    ds = await db.dataSource(V3_ENTITIES, { migrations: securityMigrationsV3 });
    await ds.query(`ALTER TABLE ${q(ds, "user")} ${db.kind === "sqlite" ? "ADD COLUMN" : "ADD"} ${q(ds, "display_name")} varchar(80) NULL`);
    expect((await ds.driver.createSchemaBuilder().log()).upQueries.map((x) => x.query)).toEqual([]);
    await ds.query(`ALTER TABLE ${q(ds, "user")} DROP COLUMN ${q(ds, "display_name")}`);
    await ds.destroy();
    ds = await db.dataSource(v4.entities, { migrations: V4_MIGRATIONS });
    await ds.runMigrations({ transaction: "all" });
    expect(await withoutTrackers()).toEqual(before);
    expect(await ds.getRepository(v4.FsRefreshTracker).count()).toBe(0);
    expect((await ds.driver.createSchemaBuilder().log()).upQueries.map((x) => x.query)).toEqual([]);
  });

  it("refuses, changing nothing, when the app's User entity is older than UserMixinV4", async () => {
    const setup = await migrated(V3_ENTITIES, V3_MIGRATIONS);
    const before = await databaseDump(setup, db.kind);
    await setup.destroy();
    const ds = await db.dataSource(V3_ENTITIES, { migrations: [...securityMigrations, appAddDisplayName("user")] });
    const error = await ds.runMigrations({ transaction: "all" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationBlockedError);
    expect(error).toMatchObject({ entity: "User", rule: "entity-older-than-migration" });
    expect((error as Error).message).toContain("securityMigrationsV3");
    expect(await databaseDump(ds, db.kind)).toBe(before);
  });

  it("refuses, changing nothing, when another table is already called fs_refresh_tracker", async () => {
    const setup = await migrated(V3_ENTITIES, V3_MIGRATIONS);
    await setup.query(`CREATE TABLE fs_refresh_tracker (id integer PRIMARY KEY, token varchar(10) NOT NULL)`);
    await setup.query(`INSERT INTO fs_refresh_tracker (id, token) VALUES (1, 'theirs')`);
    const before = await databaseDump(setup, db.kind);
    await setup.destroy();
    const ds = await db.dataSource(v4.entities, { migrations: V4_MIGRATIONS });
    const error = await ds.runMigrations({ transaction: "all" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationBlockedError);
    expect(error).toMatchObject({ entity: "fs_refresh_tracker", field: "(table)", rule: "table-exists" });
    expect(await databaseDump(ds, db.kind)).toBe(before);
  });

  it("a run stopped after its DDL and before its record: the rerun completes, without drift", async () => {
    const setup = await migrated(V3_ENTITIES, V3_MIGRATIONS);
    await setup.destroy();
    const stopping: Logger = {
      logQuery: (query) => {
        if (/^INSERT INTO \S*migrations/i.test(query)) throw new Error("simulated kill");
      },
      logQueryError() {},
      logQuerySlow() {},
      logSchemaBuild() {},
      logMigration() {},
      log() {},
    };
    // The app's display_name already exists (V3_MIGRATIONS ran it): register only the shipped ones.
    const killed = await db.dataSource(v4.entities, { migrations: securityMigrations, logger: stopping });
    await expect(killed.runMigrations({ transaction: "each" })).rejects.toThrow("simulated kill");
    // MariaDB committed the CREATE TABLE; SQLite and PostgreSQL rolled it back with the record.
    expect(await killed.createQueryRunner().hasTable("fs_refresh_tracker")).toBe(db.kind === "mariadb");
    await killed.destroy();
    const ds = await db.dataSource(v4.entities, { migrations: V4_MIGRATIONS });
    expect((await ds.runMigrations({ transaction: "each" })).map((m) => m.name)).toEqual([V4_MIGRATION]);
    expect((await ds.driver.createSchemaBuilder().log()).upQueries.map((x) => x.query)).toEqual([]);
    const recorded = (await ds.query(`SELECT name FROM ${q(ds, "migrations")} WHERE name = ${param(1)}`, [V4_MIGRATION])).length;
    expect(recorded).toBe(1);
  });
});
