/**
 * The shipped migrations through TypeORM's own runner: drift-free after each step and after `down` (default
 * and custom table names, with the app's own migration beside them), blocked with a listing when the data
 * forbids the change, and a clear error when the app registered no User entity.
 */
import { DataSource } from "typeorm";
import type { DataSourceOptions } from "typeorm";
import { securityMigrations, securityMigrationsV3, securityMigrationsV1, securityMigrationsV2 } from "../migrations";
import * as v1 from "./fixtures/app-v1";
import * as v2 from "./fixtures/app-v2";
import * as renamedV1 from "./fixtures/app-renamed-v1";
import * as renamedV2 from "./fixtures/app-renamed";
import * as v3 from "./fixtures/app-v3";
import * as renamedV3 from "./fixtures/app-renamed-v3";
import { appAddDisplayName } from "./fixtures/app-migrations";
import { describeEachDatabase, TestDatabase } from "./support/database";
import { introspect } from "./support/introspect";
import { LIVE_TYPE } from "./support/expected-schema";

const apps = [
  {
    label: "user/role",
    v1: [v1.User, v1.Role],
    v2: [v2.User, v2.Role],
    v3: [v3.User, v3.Role, v3.WebAuthn],
    userTable: "user",
    roleTable: "role",
    webauthnTable: "web_authn",
  },
  {
    label: "accounts/groups/passkeys",
    v1: [renamedV1.Account, renamedV1.Group],
    v2: [renamedV2.Account, renamedV2.Group],
    v3: [renamedV3.Account, renamedV3.Group, renamedV3.Passkey],
    userTable: "accounts",
    roleTable: "groups",
    webauthnTable: "passkeys",
  },
];

async function drift(ds: DataSource): Promise<string[]> {
  return (await ds.driver.createSchemaBuilder().log()).upQueries.map((q) => q.query);
}

async function appliedMigrations(ds: DataSource): Promise<string[]> {
  return (await ds.query(`SELECT name FROM migrations ORDER BY id`)).map((r: { name: string }) => r.name);
}

const V1 = "SecurityV1CreateTables1795737600000";
const V2 = "SecurityV2TokenUniquifierUniqueUsername1795737660000";
const V3 = "SecurityV3WebAuthnRecoveryCodes1795737720000";
const APP = "AppAddDisplayName1800000000000";

describeEachDatabase("shipped migrations", (db: TestDatabase) => {
  /** TypeORM's runner logs a refused migration (to the test logger, not the console): that line, and only it. */
  const expectFailureLogged = (migration: string, error: Error) =>
    expect(db.log.take("migration")).toEqual([`Migration "${migration}" failed, error: ${error.message}`]);

  describe.each(apps)("tables $label", (app) => {
    const v2Migrations = [...securityMigrationsV2, appAddDisplayName(app.userTable)];
    const v3Migrations = [...securityMigrationsV3, appAddDisplayName(app.userTable)];
    let current: DataSource | undefined;
    const open = async (entities: Function[], migrations: DataSourceOptions["migrations"]) => {
      if (current?.isInitialized) await current.destroy();
      current = await db.dataSource(entities, { migrations });
      return current;
    };
    afterAll(async () => {
      const ds = await open(app.v1, []);
      await ds.dropDatabase();
    });

    it("V1: creates user, role and roles_users; a V1 entity then needs no change", async () => {
      const ds = await open(app.v1, securityMigrationsV1);
      await ds.runMigrations({ transaction: "all" });
      expect(await drift(ds)).toEqual([]);
      const links = await introspect(ds, db.kind, "roles_users");
      expect(links.primaryKey).toEqual(["user_id", "role_id"]);
      const fks = links.foreignKeys.map((f) => `${f.column}->${f.referencedTable} ON DELETE ${f.onDelete.toUpperCase()}`).sort();
      expect(fks).toEqual([`role_id->${app.roleTable} ON DELETE CASCADE`, `user_id->${app.userTable} ON DELETE CASCADE`]);
    });

    it("V1 to V2 with the app's own migration beside: a V2 entity with its own column needs no change", async () => {
      const ds = await open(app.v2, v2Migrations);
      const ran = await ds.runMigrations({ transaction: "all" });
      expect(ran.map((m) => m.name)).toEqual([V2, APP]);
      expect(await drift(ds)).toEqual([]);
      const user = await introspect(ds, db.kind, app.userTable);
      expect(user.uniqueColumns.has("username")).toBe(true);
      expect(user.uniqueColumns.has("fs_token_uniquifier")).toBe(true);
      expect(user.columns.get("fs_token_uniquifier")!.nullable).toBe(false);
    });

    it("V2 to V3: a V3 entity (user, role, WebAuthn) needs no change", async () => {
      const ds = await open(app.v3, v3Migrations);
      const ran = await ds.runMigrations({ transaction: "all" });
      expect(ran.map((m) => m.name)).toEqual([V3]);
      expect(await drift(ds)).toEqual([]);
      const user = await introspect(ds, db.kind, app.userTable);
      expect(user.uniqueColumns.has("us_phone_number")).toBe(true);
      expect(user.uniqueColumns.has("fs_webauthn_user_handle")).toBe(true);
      expect(user.columns.get("password")!.nullable).toBe(true);
      expect(user.columns.get("mf_recovery_codes")!.type).toBe(LIVE_TYPE[db.kind].text);
      const webauthn = await introspect(ds, db.kind, app.webauthnTable);
      expect(webauthn.uniqueColumns.has("credential_id")).toBe(true);
      expect(
        webauthn.foreignKeys.map((f) => `${f.column}->${f.referencedTable}.${f.referencedColumn} ON DELETE ${f.onDelete.toUpperCase()}`),
      ).toEqual([`user_id->${app.userTable}.id ON DELETE CASCADE`]);
    });

    it("down to V2: the V2 entity needs no change again, and up again works", async () => {
      let ds = await open(app.v3, v3Migrations);
      await ds.undoLastMigration({ transaction: "all" });
      expect(await appliedMigrations(ds)).toEqual([V1, V2, APP]);
      ds = await open(app.v2, v2Migrations);
      expect(await drift(ds)).toEqual([]);
      expect(await ds.createQueryRunner().hasTable(app.webauthnTable)).toBe(false);
      ds = await open(app.v3, v3Migrations);
      await ds.runMigrations({ transaction: "all" });
      expect(await drift(ds)).toEqual([]);
    });

    it("down to V1: the V1 entity needs no change again, and up again to V3 works", async () => {
      let ds = await open(app.v3, v3Migrations);
      for (let i = 0; i < 3; i++) await ds.undoLastMigration({ transaction: "all" });
      expect(await appliedMigrations(ds)).toEqual([V1]);
      ds = await open(app.v1, securityMigrationsV1);
      expect(await drift(ds)).toEqual([]);
      ds = await open(app.v3, v3Migrations);
      expect((await ds.runMigrations({ transaction: "all" })).map((m) => m.name)).toEqual([V2, V3, APP]);
      expect(await drift(ds)).toEqual([]);
    });

    it("down from V1 removes the tables", async () => {
      const ds = await open(app.v3, v3Migrations);
      for (let i = 0; i < 4; i++) await ds.undoLastMigration({ transaction: "all" });
      const tables = await Promise.all(
        [app.userTable, app.roleTable, "roles_users", app.webauthnTable].map((t) => ds.createQueryRunner().hasTable(t)),
      );
      expect(tables).toEqual([false, false, false, false]);
    });
  });

  describe("the runner's other ways in", () => {
    it("migrationsRun: initialize() runs them, and a V2 entity needs no change", async () => {
      const ds = await db.dataSource([v2.User, v2.Role], {
        migrations: [...securityMigrationsV2, appAddDisplayName("user")],
        migrationsRun: true,
      });
      expect(await appliedMigrations(ds)).toEqual([V1, V2, APP]);
      expect(await drift(ds)).toEqual([]);
      await ds.dropDatabase();
    });
  });

  if (db.kind === "sqlite") {
    it("SQLite: V1 to V2 to V3 and back alter the user table in place (no rebuild), with foreign keys on", async () => {
      const ds = await db.dataSource([v1.User, v1.Role], { migrations: securityMigrationsV1 });
      await ds.runMigrations();
      const users = ds.getRepository(v1.User);
      const role = await ds.getRepository(v1.Role).save({ name: "kept" });
      await users.save(users.create({ email: "links@example.com", password: "hash", roles: [role] }));
      const rootpage = async () =>
        (await ds.query(`SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'user'`))[0].rootpage;
      const before = await rootpage();
      await ds.destroy();

      const up = await db.dataSource([v2.User, v2.Role], { migrations: securityMigrationsV2 });
      await up.query(`PRAGMA foreign_keys = ON`);
      await up.runMigrations({ transaction: "all" });
      expect((await up.query(`SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'user'`))[0].rootpage).toBe(before);
      await up.undoLastMigration({ transaction: "all" });
      expect((await up.query(`SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'user'`))[0].rootpage).toBe(before);
      expect((await up.query(`SELECT COUNT(*) AS n FROM roles_users`))[0].n).toBe(1);
      expect((await up.query(`PRAGMA integrity_check`))[0].integrity_check).toBe("ok");
      await up.destroy();

      // V2 to V3 and back: password NULL / NOT NULL by editing the stored schema, still no rebuild.
      const v3up = await db.dataSource([v3.User, v3.Role, v3.WebAuthn], { migrations: securityMigrationsV3 });
      await v3up.query(`PRAGMA foreign_keys = ON`);
      await v3up.runMigrations({ transaction: "all" });
      expect((await v3up.query(`SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'user'`))[0].rootpage).toBe(before);
      expect((await v3up.query(`SELECT "notnull" FROM pragma_table_info('user') WHERE name = 'password'`))[0].notnull).toBe(0);
      await v3up.undoLastMigration({ transaction: "all" });
      expect((await v3up.query(`SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'user'`))[0].rootpage).toBe(before);
      expect((await v3up.query(`SELECT "notnull" FROM pragma_table_info('user') WHERE name = 'password'`))[0].notnull).toBe(1);
      expect((await v3up.query(`SELECT COUNT(*) AS n FROM roles_users`))[0].n).toBe(1);
      expect((await v3up.query(`PRAGMA integrity_check`))[0].integrity_check).toBe("ok");
      await v3up.dropDatabase();
    });
  }

  describe("data the new schema forbids", () => {
    it.each(["all", "none"] as const)(
      "two users with one username stop V1 to V2, changing nothing, listing them (transaction: %s)",
      async (transaction) => {
        const before = await db.dataSource([v1.User, v1.Role], { migrations: securityMigrationsV1 });
        await before.runMigrations();
        const users = before.getRepository(v1.User);
        await users.save(
          ["Ann", "ann", "bob", "bob", "carl", "carl", "dora"].map((username, i) =>
            users.create({ email: `u${i}@example.com`, password: "hash", username }),
          ),
        );
        const columnsBefore = [...(await introspect(before, db.kind, "user")).columns.keys()].sort();
        await before.destroy();

        const ds = await db.dataSource([v2.User, v2.Role], { migrations: securityMigrationsV2 });
        const error = await ds.runMigrations({ transaction }).catch((e) => e);
        expect(error).toMatchObject({ name: "MigrationBlockedError", entity: "user", field: "username", rule: "duplicate-values" });
        expectFailureLogged(V2, error);
        // MariaDB's default collation compares case-insensitively, as its unique index would: Ann = ann there.
        const listed =
          db.kind === "mariadb"
            ? /"Ann" \(ids 1, 2\); "bob" \(ids 3, 4\); "carl" \(ids 5, 6\)/
            : /"bob" \(ids 3, 4\); "carl" \(ids 5, 6\)\. Nothing was changed/;
        expect(error.message).toMatch(
          /^user\.username: schema version 2 makes username unique, and \d value\(s\) are held by more than one row: /,
        );
        expect(error.message).toMatch(listed);
        expect(error.message).toMatch(/Give each of these rows a distinct username \(or NULL\), then run the migrations again\.$/);
        expect([...(await introspect(ds, db.kind, "user")).columns.keys()].sort()).toEqual(columnsBefore);
        expect(await appliedMigrations(ds)).toEqual(["SecurityV1CreateTables1795737600000"]);
        await ds.dropDatabase();
      },
    );
  });

  describe("data version 3 forbids", () => {
    /** A database at V2 holding `users`, then the V3 upgrade attempted. */
    const atV2With = async (rows: Array<Partial<v2.User>>) => {
      const before = await db.dataSource([v2.User, v2.Role], { migrations: [...securityMigrationsV2, appAddDisplayName("user")] });
      await before.runMigrations();
      const users = before.getRepository(v2.User);
      await users.save(rows.map((row, i) => users.create({ email: `u${i}@example.com`, password: "hash", ...row })));
      const columns = [...(await introspect(before, db.kind, "user")).columns.keys()].sort();
      await before.destroy();
      return columns;
    };

    it.each(["all", "none"] as const)(
      "two users with one phone number stop V2 to V3, changing nothing, listing them (transaction: %s)",
      async (transaction) => {
        const columnsBefore = await atV2With(
          ["+16505550101", "+16505550101", "+16505550102", null, null].map((usPhoneNumber) => ({ usPhoneNumber })),
        );
        const ds = await db.dataSource([v3.User, v3.Role, v3.WebAuthn], {
          migrations: [...securityMigrationsV3, appAddDisplayName("user")],
        });
        const error = await ds.runMigrations({ transaction }).catch((e) => e);
        expect(error).toMatchObject({ name: "MigrationBlockedError", entity: "user", field: "us_phone_number", rule: "duplicate-values" });
        expectFailureLogged(V3, error);
        expect(error.message).toBe(
          `user.us_phone_number: schema version 3 makes us_phone_number unique, and 1 value(s) are held by more than one row: "+16505550101" (ids 1, 2). ` +
            `Nothing was changed. Give each of these rows a distinct us_phone_number (or NULL), then run the migrations again.`,
        );
        expect([...(await introspect(ds, db.kind, "user")).columns.keys()].sort()).toEqual(columnsBefore);
        expect(await ds.createQueryRunner().hasTable("web_authn")).toBe(false);
        expect(await appliedMigrations(ds)).toEqual([V1, V2, APP]);
        await ds.dropDatabase();
      },
    );

    if (db.kind !== "mariadb") {
      // MariaDB's case-insensitive collation already refuses these at V2, so only SQLite and PostgreSQL can hold them.
      it("emails that differ only in letter case stop V2 to V3, changing nothing, listing them", async () => {
        const columnsBefore = await atV2With([
          { email: "Ann@Example.com" },
          { email: "bob@example.com" },
          { email: "ann@example.com" },
          { email: "ANN@EXAMPLE.COM" },
        ]);
        const ds = await db.dataSource([v3.User, v3.Role, v3.WebAuthn], {
          migrations: [...securityMigrationsV3, appAddDisplayName("user")],
        });
        const error = await ds.runMigrations({ transaction: "all" }).catch((e) => e);
        expect(error).toMatchObject({ name: "MigrationBlockedError", entity: "user", field: "email", rule: "case-duplicates" });
        expectFailureLogged(V3, error);
        expect(error.message).toMatch(
          /^user\.email: schema version 3 makes email unique in any letter case, and 1 group\(s\) of rows hold the same email in different letter case: ids 1, 3, 4\. Nothing was changed\./,
        );
        expect(error.message).not.toContain("@");
        expect([...(await introspect(ds, db.kind, "user")).columns.keys()].sort()).toEqual(columnsBefore);
        expect(await appliedMigrations(ds)).toEqual([V1, V2, APP]);
        await ds.dropDatabase();
      });
    }

    it("users without a password stop V3 to V2, changing nothing, listing them", async () => {
      const ds = await db.dataSource([v3.User, v3.Role, v3.WebAuthn], { migrations: [...securityMigrationsV3, appAddDisplayName("user")] });
      await ds.runMigrations({ transaction: "all" });
      const users = ds.getRepository(v3.User);
      await users.save(["hash", null, "hash", null].map((password, i) => users.create({ email: `p${i}@example.com`, password })));
      await ds.undoLastMigration({ transaction: "all" }); // the app's own, run last
      const columnsBefore = [...(await introspect(ds, db.kind, "user")).columns.keys()].sort();
      const error = await ds.undoLastMigration({ transaction: "all" }).catch((e) => e);
      expect(error).toMatchObject({ name: "MigrationBlockedError", entity: "user", field: "password", rule: "null-values" });
      expect(error.message).toBe(
        "user.password: schema version 2 requires a password, and 2 row(s) hold NULL there (ids 2, 4). Nothing was changed. " +
          "Give each of these rows a value (or delete them), then run the migration again.",
      );
      expect([...(await introspect(ds, db.kind, "user")).columns.keys()].sort()).toEqual(columnsBefore);
      expect(await ds.createQueryRunner().hasTable("web_authn")).toBe(true);
      expect(await appliedMigrations(ds)).toEqual([V1, V2, V3]);
      await ds.dropDatabase();
    });

    it("an app whose User still extends UserMixinV2 is told to extend UserMixinV3 or register securityMigrationsV2; nothing changes", async () => {
      const ds = await db.dataSource([v2.User, v2.Role], { migrations: [...securityMigrations, appAddDisplayName("user")] });
      const error = await ds.runMigrations({ transaction: "all" }).catch((e) => e);
      expect(error).toMatchObject({ name: "MigrationBlockedError", entity: "User", rule: "entity-older-than-migration" });
      expectFailureLogged(V3, error);
      expect(error.message).toBe(
        "User.(entity): SecurityV3WebAuthnRecoveryCodes1795737720000 upgrades the database to schema version 3, but the registered User entity does not extend UserMixinV3. " +
          "Nothing was changed. Either extend UserMixinV3 (and register the entities of its relations) to upgrade, or register `securityMigrationsV2` instead of `securityMigrations` to stay on the older version.",
      );
      if (db.kind !== "mariadb") expect(await ds.createQueryRunner().hasTable("user")).toBe(false);
      await ds.dropDatabase();
    });
  });

  describe("an app that registered no User entity", () => {
    it("is told what to register", async () => {
      const ds = await db.dataSource([v2.Role], { migrations: securityMigrations });
      const error = await ds.runMigrations().catch((e) => e);
      expect(error.name).toBe("SecurityEntitiesNotFoundError");
      expectFailureLogged(V1, error);
      expect(error.message).toBe(
        "DataSource.entities: the security migrations need the app's User entity, and no entity registered in the DataSource extends UserMixinV1, UserMixinV2, UserMixinV3 or UserMixinV4. " +
          "Register it beside the migrations: new DataSource({ entities: [User, Role], migrations: [...securityMigrations] })",
      );
      expect(await ds.createQueryRunner().hasTable("role")).toBe(false);
    });
  });
});
