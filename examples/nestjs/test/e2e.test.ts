/**
 * The example over HTTP (`npm test`): the app starts on a fresh database, which the shipped migrations
 * build at start-up; users and roles come from the package's datastore; requests go to `app.listen(0)`.
 * On SQLite always; on PostgreSQL too when E2E_POSTGRES_URL names a server, on MariaDB when E2E_MARIADB_URL
 * does (a throw-away database is made there and dropped afterwards).
 */
import "reflect-metadata";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { INestApplication } from "@nestjs/common";
import { NestFactory } from "@nestjs/core";
import { createConnection } from "mysql2/promise";
import { Client } from "pg";
import { DataSource } from "typeorm";
import { AppModule } from "../src/app.module";
import type { User } from "../src/entities";
import { UserDatastore } from "../src/security";

const PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"; // as a hasher would store it

/** Runs the routes' tests against one database, set up through the environment the app reads. */
function suite(database: string, setUp: () => Promise<{ env: Record<string, string>; tearDown: () => Promise<void> }>): void {
  describe(`the NestJS example on ${database}`, () => {
    let app: INestApplication;
    let base: string;
    let store: UserDatastore;
    let tearDown: () => Promise<void>;
    const users: Record<string, User> = {};

    const get = (path: string, user?: User) => fetch(`${base}${path}`, { headers: user ? { "x-fs-uniquifier": user.fsUniquifier } : {} });
    const post = (path: string, user: User, body: unknown) =>
      fetch(`${base}${path}`, {
        method: "POST",
        headers: { "x-fs-uniquifier": user.fsUniquifier, "content-type": "application/json" },
        body: JSON.stringify(body),
      });

    before(async () => {
      const prepared = await setUp();
      tearDown = prepared.tearDown;
      delete process.env.DATABASE_URL;
      delete process.env.DATABASE_PATH;
      Object.assign(process.env, prepared.env);
      app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
      await app.listen(0, "127.0.0.1");
      base = await app.getUrl();
      store = app.get(UserDatastore);
      await store.createRole({ name: "editor", permissions: ["post-read", "post-write"] });
      await store.createRole({ name: "reader", permissions: "post-read" });
      await store.createRole({ name: "admin", permissions: ["user-admin"] });
      for (const [name, role] of [
        ["ada", "editor"],
        ["bob", "reader"],
        ["root", "admin"],
      ]) {
        users[name] = await store.createUser({ email: `${name}@example.com`, password: PASSWORD_HASH }, { roles: [role] });
      }
    });

    after(async () => {
      await app?.close();
      await tearDown?.();
    });

    it("ran the shipped migrations at start-up: the tables are there and nothing is pending", async () => {
      const dataSource = app.get(DataSource);
      assert.equal(await dataSource.showMigrations(), false);
      const runner = dataSource.createQueryRunner();
      try {
        for (const table of ["user", "role", "roles_users"]) assert.ok(await runner.hasTable(table), `table ${table}`);
        assert.ok(await runner.hasTable("web_authn"), "the V3 table");
        assert.ok(await runner.hasColumn("user", "mf_recovery_codes"), "a V3 column");
        assert.ok(await runner.hasTable("fs_refresh_tracker"), "the V4 table");
      } finally {
        await runner.release();
      }
    });

    it("GET /me answers 401 without a signed-in user, or for an unknown one", async () => {
      assert.equal((await get("/me")).status, 401);
      const stranger = await fetch(`${base}/me`, { headers: { "x-fs-uniquifier": "0".repeat(64) } });
      assert.equal(stranger.status, 401);
    });

    it("GET /me returns the signed-in user's security payload, with the permissions of the user's roles", async () => {
      const response = await get("/me", users.ada);
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { username: "ada@example.com", permissions: ["post-read", "post-write"] });
    });

    it("POST /posts is guarded by the post-write permission: 201 for an editor, 403 for a reader", async () => {
      const created = await post("/posts", users.ada, { title: "Hello" });
      assert.equal(created.status, 201);
      assert.deepEqual(await created.json(), { title: "Hello", author: "ada@example.com" });

      const refused = await post("/posts", users.bob, { title: "Hello" });
      assert.equal(refused.status, 403);
      assert.match(((await refused.json()) as { message: string }).message, /post-write/);
    });

    it("GET /users (user-admin only) lists users through the forFeature repository without secrets", async () => {
      assert.equal((await get("/users", users.ada)).status, 403);
      const response = await get("/users", users.root);
      assert.equal(response.status, 200);
      const text = await response.text();
      const listed = JSON.parse(text) as Array<Record<string, unknown>>;
      assert.deepEqual(
        listed.map((user) => user.email),
        ["ada@example.com", "bob@example.com", "root@example.com"],
      );
      const adaRoles = listed[0].roles as Array<Record<string, unknown>>;
      assert.deepEqual(
        adaRoles.map((role) => [role.name, role.permissions]),
        [["editor", ["post-read", "post-write"]]],
      );
      for (const secret of [PASSWORD_HASH, users.ada.fsUniquifier, users.ada.fsTokenUniquifier])
        assert.ok(!text.includes(secret), "a secret in the JSON");
      for (const key of [
        "password",
        "fsUniquifier",
        "fsTokenUniquifier",
        "fsWebauthnUserHandle",
        "tfTotpSecret",
        "usTotpSecrets",
        "mfRecoveryCodes",
      ])
        assert.ok(!(key in listed[0]), key);
    });

    it("refresh tokens: each generation works once; a reused one answers 401 and revokes the whole family", async () => {
      const exchange = (refreshToken: unknown) =>
        fetch(`${base}/refresh-tokens/exchange`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ refreshToken }),
        });
      assert.equal((await fetch(`${base}/refresh-tokens`, { method: "POST" })).status, 401); // signed in first
      const issued = await post("/refresh-tokens", users.ada, { device: "phone" });
      assert.equal(issued.status, 201);
      const { refreshToken: first } = (await issued.json()) as { refreshToken: string };
      assert.match(first, /^[0-9a-f]{64}\.1$/);

      const next = await exchange(first);
      assert.equal(next.status, 200);
      const { refreshToken: second } = (await next.json()) as { refreshToken: string };
      assert.equal(second, first.replace(/\.1$/, ".2"));

      const reused = await exchange(first); // the thief (or the owner) presents generation 1 again
      assert.equal(reused.status, 401);
      assert.match(((await reused.json()) as { message: string }).message, /reused/);
      const afterReuse = await exchange(second); // so the family is gone for everyone
      assert.equal(afterReuse.status, 401);
      assert.match(((await afterReuse.json()) as { message: string }).message, /revoked/);
      const tracker = await store.findRefreshTracker(first.split(".")[0]);
      assert.equal(tracker?.gen, 2);
      assert.ok(tracker?.revokedAt instanceof Date);

      for (const bad of ["", "nonsense", `${"f".repeat(64)}.1`, `${"f".repeat(65)}.1`, 42, null, `${first.split(".")[0]}.0`])
        assert.equal((await exchange(bad)).status, 401, `token ${JSON.stringify(bad)}`);
    });

    it("a deactivated user is signed out: 401", async () => {
      assert.equal((await get("/me", users.bob)).status, 200);
      assert.equal(await store.deactivateUser(users.bob), true);
      assert.equal((await get("/me", users.bob)).status, 401);
    });

    it("rotating the uniquifier signs the user out everywhere: the old one answers 401, the new one 200", async () => {
      const before = users.ada.fsUniquifier;
      await store.rotateUniquifier(users.ada);
      assert.notEqual(users.ada.fsUniquifier, before);
      assert.equal((await fetch(`${base}/me`, { headers: { "x-fs-uniquifier": before } })).status, 401);
      assert.equal((await get("/me", users.ada)).status, 200);
    });
  });
}

suite("SQLite", () => {
  const dir = mkdtempSync(join(tmpdir(), "nest-example-"));
  const tearDown = () => Promise.resolve(rmSync(dir, { recursive: true, force: true }));
  return Promise.resolve({ env: { DATABASE_PATH: join(dir, "app.sqlite") }, tearDown });
});

/** A throw-away database on the server at `server`, where `admin` runs one statement; the app gets its URL. */
async function throwAwayDatabase(server: string, admin: (sql: string) => Promise<void>, drop: (name: string) => string) {
  const name = `nest_example_${process.pid}_${Date.now()}`;
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(server);
  url.pathname = `/${name}`;
  return { env: { DATABASE_URL: url.toString() }, tearDown: () => admin(drop(name)) };
}

const postgres = process.env.E2E_POSTGRES_URL;
if (postgres) {
  suite("PostgreSQL", () =>
    throwAwayDatabase(
      postgres,
      async (sql) => {
        const client = new Client({ connectionString: postgres });
        await client.connect();
        try {
          await client.query(sql);
        } finally {
          await client.end();
        }
      },
      (name) => `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`,
    ),
  );
}

const mariadb = process.env.E2E_MARIADB_URL;
if (mariadb) {
  suite("MariaDB", () =>
    throwAwayDatabase(
      mariadb,
      async (sql) => {
        const connection = await createConnection({ uri: mariadb.replace(/^mariadb:/, "mysql:") });
        try {
          await connection.query(sql);
        } finally {
          await connection.end();
        }
      },
      (name) => `DROP DATABASE IF EXISTS ${name}`,
    ),
  );
}
