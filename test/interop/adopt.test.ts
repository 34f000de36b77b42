/**
 * Adopting a database the real Flask-Security 5.1.2 made (fsqla v1, v2), with what its schema allows and ours
 * refuses: a repeated role link, a link with a NULL user, a permission list with spaces, on SQLite a link to
 * no user, and an app column of its own. The plan is reported first and changes nothing; the adoption keeps
 * every user and role with its ids and values, records the shipped migrations, and leaves a database our
 * entities use without drift and Flask-Security of the same version still uses (it reads it all and creates
 * a user). Also: a second run does nothing, what blocks it changes nothing, and the command line.
 */
import { execFile } from "child_process";
import { join } from "path";
import { promisify } from "util";
import {
  adoptFlaskSecurityDatabase,
  AdoptionBlockedError,
  describeAdoptionChange,
  planFlaskSecurityAdoption,
  securitySchemaStatus,
} from "../../src";
import { migrationsUpTo } from "../../src/versions";
import type { SchemaVersion } from "../../src/versions";
import { describeEachDatabase } from "../support/database";
import { describeWithFlaskSecurity } from "./support/flask-security";
import { runFlask } from "./support/flask-driver";
import type { FlaskUser } from "./support/flask-driver";
import { emptyDatabase, expectSameAsFlask } from "./support/compare";
import { VERSIONS } from "./support/entities";

const ROOT = join(__dirname, "..", "..");
const shipped = (version: SchemaVersion) => migrationsUpTo(version).map((m) => new m().name);

/** A Flask-Security user without what adoption may change (answers about permissions, the token column). */
const kept = ({ has_permission: _p, found_by_auth_token: _t, fs_token_uniquifier: _u, ...rest }: FlaskUser) => rest;

describeWithFlaskSecurity("adopting a database Flask-Security 5.1.2 made", () => {
  describeEachDatabase("adopt", (db) => {
    /** `it` on the databases named, skipped (and so reported) on the others. */
    const itOn = (...kinds: Array<typeof db.kind>) => (kinds.includes(db.kind) ? it : it.skip);

    describe.each(VERSIONS)("fsqla v$version", (v) => {
      it(`plans, adopts into V${v.version} without losing a row, and both sides use the result`, async () => {
        await emptyDatabase(db);
        const made = (await runFlask("make", db, { version: v.version, traps: true })).before;
        const ds = await db.dataSource(v.entities, { migrations: migrationsUpTo(v.version) });
        try {
          const plan = await planFlaskSecurityAdoption(ds);
          expect(plan).toMatchObject({
            found: `Flask-Security fsqla v${v.version}`,
            action: "adopt",
            toVersion: v.version,
            blockers: [],
            recordMigrations: shipped(v.version),
          });
          const changes = plan.changes.map(describeAdoptionChange).join("\n");
          expect(changes).toMatch(/5 user\(s\), 4 role\(s\) and 6 link\(s\) keep their ids and values/);
          expect(changes).toMatch(/keep the app's own columns as they are: user\.name/);
          expect(changes).toMatch(/drop 1 repeated link/);
          expect(changes).toMatch(/drop 1 link\(s\) with a NULL user_id or role_id/);
          expect(changes).toMatch(
            db.kind === "sqlite" ? /drop 1 link\(s\) to a user or role that does not exist/ : /^(?![\s\S]*does not exist)/,
          );
          expect(changes).toMatch(/role\.permissions: rewrite 1 list\(s\) .*: editor/);
          expect(changes.includes("fs_token_uniquifier: add it, with a distinct random 64-hex token for each of the 5 user(s)")).toBe(
            v.version >= 2,
          );
          expect(changes.includes("user.email: add the unique index on it in any letter case that V3 has")).toBe(
            v.version >= 3 && db.kind !== "mariadb",
          );
          // The plan changed nothing.
          expect(await securitySchemaStatus(ds)).toMatchObject({ family: "flask-security", version: v.version });
          expect(Number((await ds.query(`SELECT COUNT(*) AS n FROM roles_users`))[0].n)).toBe(made.links.length);

          expect(await adoptFlaskSecurityDatabase(ds)).toEqual(plan);
          expect(await securitySchemaStatus(ds)).toMatchObject({
            family: "ours",
            version: v.version,
            appliedMigrations: shipped(v.version),
            pendingMigrations: [],
            drift: [],
            ok: true,
          });
          expect(await planFlaskSecurityAdoption(ds)).toMatchObject({ action: "done", blockers: [] });
          expect((await adoptFlaskSecurityDatabase(ds)).action).toBe("done");

          // Flask-Security of the same version (with the README's line from v2) reads it all and creates a user.
          const report = await runFlask("read", db, {
            version: v.version,
            tokenUniquifier: v.tokenUniquifier,
            createUser: "after.adoption@example.com",
          });
          expect(report.before.users.map(kept)).toEqual(made.users.map(kept));
          expect(report.before.webauthn).toEqual(made.webauthn);
          const validLinks = made.links.filter(([u, r]) => made.users.some((x) => x.id === u) && made.roles.some((x) => x.id === r));
          expect(report.before.links).toEqual([...new Set(validLinks.map((l) => JSON.stringify(l)))].map((l) => JSON.parse(l)));
          expect(report.before.roles.find((r) => r.name === "editor")!.permissions).toEqual(["full-read", "full-write"]);
          for (const user of report.before.users.filter((u) => u.roles.includes("editor")))
            expect(user.has_permission["full-write"]).toBe(true);
          if (v.tokenUniquifier) {
            const tokens = report.before.users.map((u) => u.fs_token_uniquifier as string);
            expect(new Set(tokens).size).toBe(tokens.length);
            for (const token of tokens) expect(token).toMatch(/^[0-9a-f]{64}$/);
            for (const user of report.before.users.filter((u) => u.active)) expect(user.found_by_auth_token).toBe(user.id);
          }
          for (const user of report.before.users) expect(user.found_by_email.upper).toBe(user.id);
          await expectSameAsFlask(ds, v, report.after!);
          expect(await securitySchemaStatus(ds)).toMatchObject({ ok: true, drift: [] });
        } finally {
          await ds.destroy();
        }
      });
    });

    it("a Flask-Security app that already had the fs_token_uniquifier line keeps its tokens", async () => {
      await emptyDatabase(db);
      const made = (await runFlask("make", db, { version: 2, tokenUniquifier: true })).before;
      const [, v2] = VERSIONS;
      const ds = await db.dataSource(v2.entities, { migrations: migrationsUpTo(2) });
      try {
        const plan = await adoptFlaskSecurityDatabase(ds);
        expect(plan.changes.map(describeAdoptionChange).some((line) => line.includes("fs_token_uniquifier"))).toBe(false);
        expect(await securitySchemaStatus(ds)).toMatchObject({ family: "ours", version: 2, ok: true });
        const report = await runFlask("read", db, { version: 2, tokenUniquifier: true });
        expect(report.before.users).toEqual(made.users);
      } finally {
        await ds.destroy();
      }
    });

    it("an app whose User entity is older than the database is refused, and nothing changes", async () => {
      await emptyDatabase(db);
      await runFlask("make", db, { version: 2 });
      const [v1] = VERSIONS;
      const ds = await db.dataSource(v1.entities, { migrations: migrationsUpTo(1) });
      try {
        const plan = await planFlaskSecurityAdoption(ds);
        expect(plan.action).toBe("blocked");
        expect(plan.blockers).toEqual([
          expect.stringMatching(/database is at version 2 and the app's User entity at V1: extend UserMixinV2/),
        ]);
        await expect(adoptFlaskSecurityDatabase(ds)).rejects.toThrow(AdoptionBlockedError);
        expect(await securitySchemaStatus(ds)).toMatchObject({ family: "flask-security", version: 2 });
      } finally {
        await ds.destroy();
      }
    });

    it("other tables' foreign keys to the Flask-Security tables block it, and nothing changes", async () => {
      await emptyDatabase(db);
      await runFlask("make", db, { version: 2 });
      const [, v2] = VERSIONS;
      const ds = await db.dataSource(v2.entities, { migrations: migrationsUpTo(2) });
      try {
        await ds.query(`CREATE TABLE posts (id integer PRIMARY KEY, author_id integer REFERENCES ${ds.driver.escape("user")} (id))`);
        const plan = await planFlaskSecurityAdoption(ds);
        expect(plan.blockers).toEqual([
          expect.stringContaining(
            "other tables have foreign keys to the tables adoption rebuilds (posts → user): drop those foreign keys, adopt, then add them again",
          ),
        ]);
        await expect(adoptFlaskSecurityDatabase(ds)).rejects.toThrow(/posts → user/);
        expect(await securitySchemaStatus(ds)).toMatchObject({ family: "flask-security", version: 2 });
      } finally {
        await ds.destroy();
      }
    });

    itOn("sqlite", "postgres")(
      "version 3: emails that differ only in letter case block it (MariaDB's collation already refuses them)",
      async () => {
        await emptyDatabase(db);
        await runFlask("make", db, { version: 3 });
        const v3 = VERSIONS[2];
        const ds = await db.dataSource(v3.entities, { migrations: migrationsUpTo(3) });
        try {
          await ds.query(
            `INSERT INTO ${ds.driver.escape("user")} (email, active, fs_uniquifier) VALUES ('ALICE@example.com', ${db.kind === "sqlite" ? 1 : true}, 'case-variant')`,
          );
          const plan = await planFlaskSecurityAdoption(ds);
          expect(plan.action).toBe("blocked");
          expect(plan.blockers).toEqual([
            expect.stringMatching(/^1 email\(s\) are held by more than one user in different letter case, which V3 refuses/),
          ]);
          await expect(adoptFlaskSecurityDatabase(ds)).rejects.toThrow(AdoptionBlockedError);
          expect(await securitySchemaStatus(ds)).toMatchObject({ family: "flask-security", version: 3 });
        } finally {
          await ds.destroy();
        }
      },
    );

    itOn("mariadb")(
      "MariaDB/MySQL commit DDL at once: an adoption stopped after moving the tables aside is finished by a rerun",
      async () => {
        await emptyDatabase(db);
        const made = (await runFlask("make", db, { version: 2, traps: true })).before;
        const [, v2] = VERSIONS;
        const ds = await db.dataSource(v2.entities, { migrations: migrationsUpTo(2) });
        try {
          // The first step of an adoption, then the process died.
          await ds.query("RENAME TABLE `role` TO tsm_adopt_role, `user` TO tsm_adopt_user, roles_users TO tsm_adopt_roles_users");
          const plan = await planFlaskSecurityAdoption(ds);
          expect(plan).toMatchObject({ action: "resume", toVersion: 2, blockers: [] });
          expect(describeAdoptionChange(plan.changes[0])).toBe(
            "finish the adoption: rebuild the tables and copy the rows again from tsm_adopt_role, tsm_adopt_user, tsm_adopt_roles_users",
          );
          await adoptFlaskSecurityDatabase(ds);
          expect(await securitySchemaStatus(ds)).toMatchObject({ family: "ours", version: 2, pendingMigrations: [], drift: [], ok: true });
          expect(await ds.query(`SHOW TABLES LIKE 'tsm_adopt_%'`)).toEqual([]);
          const report = await runFlask("read", db, { version: 2, tokenUniquifier: true });
          expect(report.before.users.map(kept)).toEqual(made.users.map(kept));
        } finally {
          await ds.destroy();
        }
      },
    );

    // The command is a thin layer over the functions tested above on every database; once is enough (each run
    // starts Node and ts-node, seconds each).
    itOn("sqlite")("the command line: a dry run by default, --apply to adopt, exit 1 when blocked", async () => {
      await emptyDatabase(db);
      await runFlask("make", db, { version: 2, traps: true });
      const options = db.options([]) as { type: string; url?: string; database?: string };
      const cli = (version: number, ...args: string[]) =>
        promisify(execFile)(
          process.execPath,
          ["-r", "ts-node/register", "src/cli.ts", "adopt", ...args, "-d", "test/interop/support/cli-data-source.ts"],
          {
            cwd: ROOT,
            env: {
              ...process.env,
              TS_NODE_TRANSPILE_ONLY: "true",
              TSM_INTEROP_VERSION: String(version),
              TSM_CLI_CONNECTION: JSON.stringify({ type: options.type, url: options.url, database: options.database }),
            },
          },
        ).then(
          ({ stdout }) => ({ code: 0, stdout }),
          (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout + error.stderr }),
        );
      const blocked = await cli(1);
      expect(blocked.code).toBe(1);
      expect(blocked.stdout).toMatch(
        /^Found: +Flask-Security fsqla v2\nBecomes: +typeorm-security-models V2\nBlocked, nothing was changed:\n- the database is at version 2/,
      );
      const dry = await cli(2);
      expect(dry).toMatchObject({ code: 0 });
      expect(dry.stdout).toMatch(
        /^Found: +Flask-Security fsqla v2\nBecomes: +typeorm-security-models V2\nWould change \(nothing changed yet; run again with --apply\):\n- rebuild role, user, roles_users/,
      );
      expect(dry.stdout).toMatch(
        /\nAfterwards:\n- Flask-Security's User model needs this line, as typeorm-security-models V2\+ has the column: fs_token_uniquifier = Column\(String\(64\), unique=True, nullable=False\)\n$/,
      );
      const applied = await cli(2, "--apply", "--json");
      expect(applied).toMatchObject({ code: 0 });
      expect(JSON.parse(applied.stdout)).toMatchObject({ action: "adopt", applied: true, toVersion: 2 });
      const again = await cli(2, "--apply");
      expect(again).toEqual({
        code: 0,
        stdout: "Found:     typeorm-security-models V2\nNothing to do: the database is already typeorm-security-models'.\n",
      });
    });
  });
});
