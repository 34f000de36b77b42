/**
 * Schema status: version detection (empty, this package's V1 and V2, Flask-Security's fsqla v1, v2 and v3
 * made from its own DDL, unknown; fsqla v4 and the sqla family: test/adopt-flask-security-5.9.test.ts), pending shipped migrations, drift; and the command line (`status`,
 * `check`) with its text, its JSON and its exit codes.
 */
import { execFile } from "child_process";
import { join } from "path";
import { promisify } from "util";
import { TableColumn } from "typeorm";
import type { DataSource } from "typeorm";
import { securitySchemaStatus } from "../src";
import { securityMigrationsV3, securityMigrationsV1, securityMigrationsV2 } from "../migrations";
import * as v1 from "./fixtures/app-v1";
import * as v2 from "./fixtures/app-v2";
import * as v3 from "./fixtures/app-v3";
import { appAddDisplayName } from "./fixtures/app-migrations";
import { describeEachDatabase } from "./support/database";
import { createFlaskSecuritySchema } from "./support/flask-security-ddl";

const ROOT = join(__dirname, "..");
describeEachDatabase("schema status", (db) => {
  const statusOf = async (entities: Function[], migrations: Function[], prepare: (ds: DataSource) => Promise<unknown>) => {
    const ds = await db.dataSource(entities, { migrations, dropSchema: true });
    await prepare(ds);
    const status = await securitySchemaStatus(ds);
    await ds.destroy();
    return status;
  };

  it("an empty database", async () => {
    const status = await statusOf([v2.User, v2.Role], securityMigrationsV2, () => Promise.resolve());
    expect(status).toMatchObject({
      family: "empty",
      version: null,
      label: "empty (no user table)",
      ok: false,
      pendingMigrations: ["SecurityV1CreateTables1795737600000", "SecurityV2TokenUniquifierUniqueUsername1795737660000"],
    });
    expect(status.drift.length).toBeGreaterThan(0);
  });

  it("ours at V1, for an app staying on V1: OK", async () => {
    const status = await statusOf([v1.User, v1.Role], securityMigrationsV1, (ds) => ds.runMigrations());
    expect(status).toEqual({
      family: "ours",
      version: 1,
      label: "typeorm-security-models V1",
      flaskSecurityTables: [],
      appliedMigrations: ["SecurityV1CreateTables1795737600000"],
      pendingMigrations: [],
      drift: [],
      ok: true,
    });
  });

  it("ours at V1, for an app that moved to V2: V2 pending, drift", async () => {
    const status = await statusOf([v2.User, v2.Role], [...securityMigrationsV2, appAddDisplayName("user")], (ds) =>
      ds
        .runMigrations({ transaction: "all" })
        .then(() => ds.undoLastMigration())
        .then(() => ds.undoLastMigration()),
    );
    expect(status).toMatchObject({
      family: "ours",
      version: 1,
      pendingMigrations: ["SecurityV2TokenUniquifierUniqueUsername1795737660000"],
      ok: false,
    });
    expect(status.drift.length).toBeGreaterThan(0);
  });

  it("ours at V2: OK", async () => {
    const status = await statusOf([v2.User, v2.Role], [...securityMigrationsV2, appAddDisplayName("user")], (ds) =>
      ds.runMigrations({ transaction: "all" }),
    );
    expect(status).toMatchObject({
      family: "ours",
      version: 2,
      label: "typeorm-security-models V2",
      pendingMigrations: [],
      drift: [],
      ok: true,
    });
  });

  it("ours at V3: OK", async () => {
    const status = await statusOf([v3.User, v3.Role, v3.WebAuthn], [...securityMigrationsV3, appAddDisplayName("user")], (ds) =>
      ds.runMigrations({ transaction: "all" }),
    );
    expect(status).toMatchObject({
      family: "ours",
      version: 3,
      label: "typeorm-security-models V3",
      pendingMigrations: [],
      drift: [],
      ok: true,
    });
  });

  it("V3 whose case-insensitive email index was replaced (a TypeORM table rebuild on SQLite): NOT OK, with the SQL that restores it", async () => {
    const q = (ds: DataSource, name: string) => ds.driver.escape(name);
    const status = await statusOf([v3.User, v3.Role, v3.WebAuthn], [...securityMigrationsV3, appAddDisplayName("user")], async (ds) => {
      await ds.runMigrations({ transaction: "all" });
      const runner = ds.createQueryRunner();
      if (db.kind === "sqlite") {
        // What TypeORM's SQLite addColumn does to every index: rebuilt from its column names.
        await runner.addColumn("user", new TableColumn({ name: "nickname", type: "varchar", length: "20", isNullable: true }));
        await runner.dropColumn("user", "nickname");
      } else {
        await ds
          .query(`DROP INDEX ${q(ds, "IDX_security_email_ci")}${db.kind === "mariadb" ? ` ON ${q(ds, "user")}` : ""}`)
          .catch(() => undefined);
      }
      await runner.release();
    });
    if (db.kind === "mariadb") {
      expect(status).toMatchObject({ version: 3, drift: [], ok: true }); // the email index's _ci collation does it there
      return;
    }
    const create =
      db.kind === "sqlite"
        ? `CREATE UNIQUE INDEX "IDX_security_email_ci" ON "user" ("email" COLLATE NOCASE)`
        : `CREATE UNIQUE INDEX "IDX_security_email_ci" ON "user" (lower("email"))`;
    expect(status).toMatchObject({
      version: 3,
      ok: false,
      drift: db.kind === "sqlite" ? [`DROP INDEX "IDX_security_email_ci"`, create] : [create],
    });

    const ds = await db.dataSource([v3.User, v3.Role, v3.WebAuthn], { migrations: [...securityMigrationsV3, appAddDisplayName("user")] });
    for (const statement of status.drift) await ds.query(statement);
    expect(await securitySchemaStatus(ds)).toMatchObject({ drift: [], ok: true });
    const users = ds.getRepository(v3.User);
    await users.save(users.create({ email: "Ada@Example.com", password: "hash" }));
    await expect(
      users.insert({
        email: "ada@example.com",
        password: "hash",
        active: true,
        fsUniquifier: "u".repeat(64),
        fsTokenUniquifier: "t".repeat(64),
      }),
    ).rejects.toThrow(/unique|duplicate/i);
    await ds.destroy();
  });

  it.each([1, 2, 3])("Flask-Security fsqla v%i made by its own DDL", async (version) => {
    const status = await statusOf([v2.User, v2.Role], securityMigrationsV2, (ds) => createFlaskSecuritySchema(ds, db.kind, version));
    expect(status).toMatchObject({ family: "flask-security", version, label: `Flask-Security fsqla v${version}`, ok: false });
  });

  it("a user table that is neither", async () => {
    const status = await statusOf([v2.User, v2.Role], securityMigrationsV2, (ds) =>
      ds.query(`CREATE TABLE ${ds.driver.escape("user")} (id integer primary key, name varchar(20))`),
    );
    expect(status).toMatchObject({ family: "unknown", version: null, ok: false });
    expect(status.label).toBe("unknown (table user is neither a Flask-Security nor a typeorm-security-models schema)");
  });

  describe("command line", () => {
    beforeAll(async () => {
      const ds = await db.dataSource([], { dropSchema: true }); // start from an empty database
      await ds.destroy();
    });
    const run = promisify(execFile);
    const cli = (...args: string[]) => cliWith("test/fixtures/cli-data-source.ts", ...args);
    const cliWith = async (dataSourceFile: string, ...args: string[]) => {
      const options = db.options([]) as { type: string; url?: string; database?: string };
      const env = {
        ...process.env,
        TS_NODE_TRANSPILE_ONLY: "true",
        TSM_CLI_CONNECTION: JSON.stringify({ type: options.type, url: options.url, database: options.database }),
      };
      return run(process.execPath, ["-r", "ts-node/register", "src/cli.ts", ...args, "-d", dataSourceFile], {
        cwd: ROOT,
        env,
      }).then(
        ({ stdout }) => ({ code: 0, stdout }),
        (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout + error.stderr }),
      );
    };

    it("status: NOT OK (exit 1) before the migrations, OK (exit 0) after, as text and JSON", async () => {
      const before = await cli("status");
      expect(before.code).toBe(1);
      expect(before.stdout).toMatch(
        /^Schema: +empty \(no user table\)\nMigrations: 0 applied, 2 pending \(SecurityV1CreateTables1795737600000, SecurityV2TokenUniquifierUniqueUsername1795737660000\)\nDrift: +\d+ change\(s\)/,
      );
      expect(before.stdout).toMatch(/Status: +NOT OK\n$/);

      const ds = await db.dataSource([v2.User, v2.Role], { migrations: [...securityMigrationsV2, appAddDisplayName("user")] });
      await ds.runMigrations();
      await ds.destroy();

      const after = await cli("status");
      expect(after).toEqual({
        code: 0,
        stdout: "Schema:     typeorm-security-models V2\nMigrations: 2 applied, 0 pending\nDrift:      none\nStatus:     OK\n",
      });
      const json = await cli("status", "--json");
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout)).toMatchObject({ family: "ours", version: 2, ok: true, drift: [] });
    });

    it("check: exit 0 when the features are covered, 1 with every problem listed, 2 for a bad option", async () => {
      const good = await cli("check", "--features", "confirmable,trackable,twoFactor:email+sms,tokenIdentity,permissions", "--live");
      expect(good).toEqual({ code: 0, stdout: "OK: the entities and the database have every column these features need.\n" });
      const bad = await cli("check", "--features", "recoveryCodes", "--json");
      expect(bad.code).toBe(1);
      expect(JSON.parse(bad.stdout)).toMatchObject({
        ok: false,
        problems: [{ entity: "User", field: "mf_recovery_codes", feature: "recoveryCodes", problem: "missing" }],
      });
      const usage = await cli("check", "--features", "twoFactors");
      expect(usage.code).toBe(2);
      expect(usage.stdout).toMatch(/^--features: unknown feature "twoFactors"; known: confirmable, trackable, twoFactor/);
    });

    it.each([
      [
        "a method in the wrong case",
        ["--features", "twoFactor:SMS"],
        /^--features: twoFactor has no method "SMS"; its methods are email, authenticator, sms/,
      ],
      [
        "an unknown unified sign-in method",
        ["--features", "confirmable,unifiedSignin:password+magic"],
        /^--features: unifiedSignin has no method "magic"; its methods are password, email, authenticator, sms/,
      ],
      ["an empty method list", ["--features", "twoFactor:"], /^--features: twoFactor has no method ""; its methods are email/],
      [
        "a method on a feature without methods",
        ["--features", "confirmable:email"],
        /^--features: confirmable has no methods; write it alone\. Only twoFactor and unifiedSignin take methods/,
      ],
      [
        "--features without a value",
        ["--features"],
        /^--features needs a value: a comma-separated list of confirmable, trackable, twoFactor/,
      ],
      ["--features followed by another option", ["--features", "--live"], /^--features needs a value/],
    ])("check: %s is a usage error (exit 2) naming the valid names, not a silent OK", async (_, args, message) => {
      const result = await cli("check", ...args);
      expect(result.code).toBe(2);
      expect(result.stdout).toMatch(message);
      expect(result.stdout).toContain("Usage:");
    });

    it("accepts a data-source file that does module.exports = dataSource, as TypeORM's CLI does", async () => {
      const result = await cliWith("test/fixtures/cli-data-source-module-exports.ts", "check", "--features", "confirmable");
      expect(result).toEqual({ code: 0, stdout: "OK: the entities have every column these features need.\n" });
    });
  });
});
