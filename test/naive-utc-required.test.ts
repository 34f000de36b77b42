/**
 * The silent local-time trap, closed: in a process whose zone is not UTC, a DataSource whose options did not
 * go through `withNaiveUtc` (or lost its settings afterwards) is refused by the shipped migrations, the
 * datastore, `securitySchemaStatus` and the `status` command, with a typed error that says what to write;
 * options that did go through it pass, also when spread into more options or changed with `setOptions`, as
 * NestJS and the TypeORM CLI do.
 */
import { execFile } from "child_process";
import { join } from "path";
import { promisify } from "util";
import { DataSource } from "typeorm";
import type { DataSourceOptions } from "typeorm";
import {
  adoptFlaskSecurityDatabase,
  NaiveUtcRequiredError,
  planFlaskSecurityAdoption,
  SecurityDatastore,
  SecurityModelError,
  securitySchemaStatus,
  withNaiveUtc,
} from "../src";
import { securityMigrationsV3 } from "../migrations";
import * as v3 from "./fixtures/app-v3";
import { appAddDisplayName } from "./fixtures/app-migrations";
import { describeEachDatabase } from "./support/database";
import { databaseDump } from "./support/dump";

const ENTITIES = [v3.User, v3.Role, v3.WebAuthn];
const ROOT = join(__dirname, "..");
const TYPE = { sqlite: "better-sqlite3", postgres: "postgres", mariadb: "mariadb" } as const;

describeEachDatabase("a DataSource without withNaiveUtc", (db) => {
  jest.setTimeout(60_000);
  const opened: DataSource[] = [];
  const open = async (options: DataSourceOptions) => {
    const ds = new DataSource(options);
    opened.push(ds);
    return ds.initialize();
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((ds) => (ds.isInitialized ? ds.destroy() : Promise.resolve())));
  });
  const plain = () => db.plainOptions(ENTITIES, { migrations: securityMigrationsV3 });
  const wrapped = () => db.options(ENTITIES, { migrations: securityMigrationsV3 });
  const missing = (user: string) => ({
    name: "NaiveUtcRequiredError",
    entity: "DataSource",
    field: "options",
    rule: "naive-utc-missing",
    message: expect.stringContaining(
      `${user} refuses this ${TYPE[db.kind]} DataSource: its options did not go through withNaiveUtc, so `,
    ) as unknown as string,
  });

  it("runs in a process whose zone is not UTC, where the trap would show", () => {
    expect(new Date("2024-01-02T12:30:15Z").getTimezoneOffset()).not.toBe(0);
  });

  it("the shipped migrations refuse it before their first change, up and down, saying what to write", async () => {
    await (await open(db.plainOptions(ENTITIES))).runMigrations(); // TypeORM's runner makes its migrations table first
    const ds = await open(plain());
    const before = await databaseDump(ds, db.kind);
    const error = await ds.runMigrations().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NaiveUtcRequiredError);
    expect(error).toBeInstanceOf(SecurityModelError);
    expect(error).toMatchObject(missing("SecurityV1CreateTables1795737600000"));
    expect((error as Error).message).toContain(
      `Fix: import { withNaiveUtc } from "typeorm-security-models" and write new DataSource(withNaiveUtc({ type: "${TYPE[db.kind]}", ... })); ` +
        `in NestJS, TypeOrmModule.forRootAsync({ useFactory: () => withNaiveUtc({ type: "${TYPE[db.kind]}", ... }) }).`,
    );
    expect((error as Error).message).toMatch(
      db.kind === "sqlite"
        ? /reads as microseconds/
        : new RegExp(`local wall clock \\(${Intl.DateTimeFormat().resolvedOptions().timeZone}\\)`),
    );
    expect(await databaseDump(ds, db.kind)).toBe(before);

    const migrated = await open(wrapped());
    await migrated.runMigrations();
    const atV3 = await databaseDump(migrated, db.kind);
    await expect(ds.undoLastMigration()).rejects.toMatchObject(missing("SecurityV3WebAuthnRecoveryCodes1795737720000"));
    expect(await databaseDump(migrated, db.kind)).toBe(atV3);
    await migrated.dropDatabase();
  });

  it("SecurityDatastore refuses it when it is made, before any query", async () => {
    const ds = await open(plain());
    expect(() => new SecurityDatastore(ds, v3.User, v3.Role)).toThrow(NaiveUtcRequiredError);
    expect(() => new SecurityDatastore(ds, v3.User, v3.Role)).toThrow(expect.objectContaining(missing("SecurityDatastore")));
  });

  it("adoption refuses it, planned or carried out", async () => {
    const ds = await open(plain());
    await expect(planFlaskSecurityAdoption(ds)).rejects.toMatchObject(missing("adopt"));
    await expect(adoptFlaskSecurityDatabase(ds)).rejects.toMatchObject(missing("adopt"));
  });

  it("securitySchemaStatus and the status command refuse it (exit 2, the fix on stderr)", async () => {
    await expect(securitySchemaStatus(await open(plain()))).rejects.toMatchObject(missing("securitySchemaStatus"));
    const options = db.options([]) as { type: string; url?: string; database?: string };
    const run = promisify(execFile);
    const result = await run(
      process.execPath,
      ["-r", "ts-node/register", "src/cli.ts", "status", "-d", "test/fixtures/cli-data-source-unwrapped.ts"],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          TS_NODE_TRANSPILE_ONLY: "true",
          TSM_CLI_CONNECTION: JSON.stringify({ type: options.type, url: options.url, database: options.database }),
        },
      },
    ).then(
      () => ({ code: 0, stderr: "" }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`DataSource.options: securitySchemaStatus refuses this ${TYPE[db.kind]} DataSource`);
    expect(result.stderr).toContain(`write new DataSource(withNaiveUtc({ type: "${TYPE[db.kind]}", ... }))`);
  });

  it("options copied key by key pass only where the settings survive (SQLite's is a symbol key, which such a copy drops)", () => {
    const copied = new DataSource(Object.fromEntries(Object.entries(wrapped())) as DataSourceOptions);
    if (db.kind === "sqlite")
      expect(() => new SecurityDatastore(copied, v3.User, v3.Role)).toThrow(expect.objectContaining({ rule: "naive-utc-missing" }));
    else expect(() => new SecurityDatastore(copied, v3.User, v3.Role)).not.toThrow();
  });

  if (db.kind === "postgres") {
    it("PostgreSQL: options that lost the wrapper's extra (spread over it) are refused, naming what was lost and the fix", () => {
      const lost = new DataSource({ ...wrapped(), extra: { max: 5 } });
      let error: NaiveUtcRequiredError | undefined;
      try {
        new SecurityDatastore(lost, v3.User, v3.Role);
      } catch (e) {
        error = e as NaiveUtcRequiredError;
      }
      expect(error).toMatchObject({ name: "NaiveUtcRequiredError", rule: "naive-utc-lost" });
      expect(error!.message).toContain("lost extra.types (reads zone-less timestamps as UTC), so ");
      expect(error!.message).toContain(
        "Fix: apply withNaiveUtc last, to the finished options: new DataSource(withNaiveUtc({ ...options, extra: { ... } })), not { ...withNaiveUtc(options), extra: { ... } }.",
      );
      // The fix as the message writes it passes, and keeps the app's own extra.
      const fixed = new DataSource(withNaiveUtc({ ...db.plainOptions(ENTITIES), extra: { max: 5 } }));
      expect(() => new SecurityDatastore(fixed, v3.User, v3.Role)).not.toThrow();
    });

    it("PostgreSQL: options whose driver was replaced after withNaiveUtc are refused", () => {
      const ds = new DataSource({ ...wrapped(), driver: require("pg") }); // eslint-disable-line @typescript-eslint/no-require-imports
      expect(() => new SecurityDatastore(ds, v3.User, v3.Role)).toThrow(/lost driver \(puts every pooled session in UTC\), so /);
    });

    it("PostgreSQL: pg's process-wide parseInputDatesAsUTC set back to false is refused", () => {
      const ds = new DataSource(wrapped());
      const pg = (ds.driver as unknown as { postgres: { defaults: { parseInputDatesAsUTC: boolean } } }).postgres;
      pg.defaults.parseInputDatesAsUTC = false;
      try {
        expect(() => new SecurityDatastore(ds, v3.User, v3.Role)).toThrow(
          /lost pg\.defaults\.parseInputDatesAsUTC = true on the pg module TypeORM uses/,
        );
      } finally {
        pg.defaults.parseInputDatesAsUTC = true;
      }
      expect(() => new SecurityDatastore(ds, v3.User, v3.Role)).not.toThrow();
    });
  }

  if (db.kind === "mariadb") {
    it.each([
      ["timezone", { timezone: "local" }, /lost timezone: "Z"/],
      ["driver", { driver: require("mysql2") }, /lost driver \(puts every pooled session in UTC\)/], // eslint-disable-line @typescript-eslint/no-require-imports
    ])("MariaDB: options whose %s was replaced after withNaiveUtc are refused", (_, replaced, message) => {
      const ds = new DataSource({ ...wrapped(), ...replaced });
      expect(() => new SecurityDatastore(ds, v3.User, v3.Role)).toThrow(message);
    });
  }

  it("wrapped options pass, also spread into more options (as NestJS does) and after setOptions (as the CLIs do)", async () => {
    const app = db.options(ENTITIES, { migrations: [...securityMigrationsV3, appAddDisplayName("user")] });
    const ds = await open({ ...app, logging: false });
    ds.setOptions({ synchronize: false, migrationsRun: false, logging: false });
    await ds.runMigrations();
    const store = new SecurityDatastore(ds, v3.User, v3.Role);
    const user = await store.createUser({ email: "utc@example.com", password: "h" }, { confirmedAt: new Date("2024-01-02T12:30:15Z") });
    const raw = await ds.query(
      `SELECT ${db.kind === "postgres" ? "confirmed_at::text" : db.kind === "mariadb" ? "CAST(confirmed_at AS CHAR)" : "confirmed_at"} AS t FROM ${ds.driver.escape("user")} WHERE id = ${user.id}`,
    );
    expect(String(raw[0].t)).toMatch(/^2024-01-02 12:30:15/); // UTC wall clock, not New York's or Kolkata's
    expect((await securitySchemaStatus(ds)).ok).toBe(true);
    await ds.dropDatabase();
  });
});
