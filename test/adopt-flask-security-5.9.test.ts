/**
 * Today's Flask-Security schemas, made from their DDL: fsqla v4 (Flask-Security 5.9, its `fs_refresh_tracker`
 * table), the `sqla` family v1 and v2 (5.5 and 5.9: `roles_users` keyed by (user_id, role_id), the `webauthn`
 * and `fs_refresh` tables, names the app chose), and a V3 database of ours beside which Flask-Security 5.9
 * made its refresh-tracker table. Status tells each apart; adoption plans without changing anything, keeps
 * every row (trackers included), adds what ours has beyond Flask-Security's, leaves no drift and nothing for
 * the V4 migration to refuse; what blocks adoption changes nothing (whole database dumps compared).
 */
import type { DataSource } from "typeorm";
import {
  adoptFlaskSecurityDatabase,
  AdoptionBlockedError,
  describeAdoptionChange,
  planFlaskSecurityAdoption,
  securitySchemaStatus,
} from "../src";
import { securityMigrations, securityMigrationsV3 } from "../migrations";
import { appAddDisplayName } from "./fixtures/app-migrations";
import * as v3 from "./fixtures/app-v3";
import * as v4 from "./fixtures/app-v4";
import { SQLA_DEFAULT_NAMES, sqlaV1App, sqlaV2App } from "./fixtures/app-sqla";
import type { SqlaTableNames } from "./fixtures/app-sqla";
import { describeEachDatabase } from "./support/database";
import { databaseDump } from "./support/dump";
import { createFlaskSecuritySchema, ddlStatements } from "./support/flask-security-ddl";

const ALL = securityMigrations.map((m) => new m().name);
const V4 = ALL[ALL.length - 1];
const UP_TO_V3 = securityMigrationsV3.map((m) => new m().name);

/** Values as both sides read them: a DATETIME and a datetime(6) of the same instant compare equal. */
function normal(rows: Array<Record<string, unknown>>): string {
  return JSON.stringify(
    rows.map((row) =>
      Object.fromEntries(
        Object.entries(row).map(([key, value]) => [
          key,
          value instanceof Date
            ? value.toISOString().replace(/\.000Z$/, "")
            : typeof value === "string"
              ? value.replace(/^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(\.0+)?Z?$/, "$1T$2")
              : Buffer.isBuffer(value)
                ? value.toString("hex")
                : typeof value === "boolean"
                  ? Number(value)
                  : value,
        ]),
      ),
    ),
  );
}

describeEachDatabase("adopting Flask-Security 5.9's schemas", (db) => {
  const q = (ds: DataSource, name: string) => ds.driver.escape(name);
  const bytes = (hex: string) => (db.kind === "postgres" ? `decode('${hex}', 'hex')` : `X'${hex}'`);

  /** Rows as a Flask-Security app writes them: two users, a role link, a passkey, a live and a revoked tracker. */
  async function populate(ds: DataSource, names: { user: string; role: string; webauthn: string; refresh?: string; links: string }) {
    const [user, role] = [q(ds, names.user), q(ds, names.role)];
    await ds.query(`INSERT INTO ${role} (id, name, permissions) VALUES (1, 'admin', 'full-read,full-write')`);
    for (const [id, email] of [
      [1, "ada@example.com"],
      [2, "grace@example.com"],
    ] as const) {
      await ds.query(
        `INSERT INTO ${user} (id, email, active, fs_uniquifier, password, fs_webauthn_user_handle) ` +
          `VALUES (${id}, '${email}', TRUE, '${String(id).repeat(64)}', 'hash-${id}', 'handle-${id}')`,
      );
    }
    await ds.query(`INSERT INTO ${q(ds, names.links)} (user_id, role_id) VALUES (1, 1)`);
    await ds.query(
      `INSERT INTO ${q(ds, names.webauthn)} (id, credential_id, public_key, sign_count, backup_state, device_type, lastuse_datetime, name, ${q(ds, "usage")}, user_id) ` +
        `VALUES (1, ${bytes("c0ffee")}, ${bytes("0badf00d")}, 3, FALSE, 'single_device', '2025-01-02 03:04:05', 'laptop', 'first', 1)`,
    );
    if (names.refresh) {
      for (const [id, family, revoked] of [
        [1, "a", "NULL"],
        [2, "b", "'2025-02-01 00:00:00'"],
      ] as const) {
        await ds.query(
          `INSERT INTO ${q(ds, names.refresh)} (id, refresh_family, gen, expires_at, revoked_at, last_used_at, name, user_id) ` +
            `VALUES (${id}, '${family.repeat(64)}', 7, '2026-01-01 00:00:00', ${revoked}, '2025-01-03 04:05:06', 'phone', 2)`,
        );
      }
    }
  }

  /** What adoption must keep: users, links, passkeys and trackers, column by column as Flask-Security wrote them. */
  async function keptRows(ds: DataSource, names: { user: string; webauthn: string; refresh?: string; links: string }) {
    const rows = async (sql: string) => normal(await ds.query(sql));
    return [
      await rows(`SELECT id, email, active, fs_uniquifier, password, fs_webauthn_user_handle FROM ${q(ds, names.user)} ORDER BY id`),
      await rows(`SELECT user_id, role_id FROM ${q(ds, names.links)} ORDER BY user_id`),
      await rows(
        `SELECT id, credential_id, public_key, sign_count, lastuse_datetime, name, user_id FROM ${q(ds, names.webauthn)} ORDER BY id`,
      ),
      names.refresh
        ? await rows(
            `SELECT id, refresh_family, gen, expires_at, revoked_at, last_used_at, name, user_id FROM ${q(ds, names.refresh)} ORDER BY id`,
          )
        : "",
    ];
  }

  /** Whether `table` has an index over exactly `column`. */
  async function indexed(ds: DataSource, table: string, column: string): Promise<boolean> {
    const runner = ds.createQueryRunner();
    try {
      const found = await runner.getTable(table);
      return !!found?.indices.some((index) => index.columnNames.length === 1 && index.columnNames[0] === column);
    } finally {
      await runner.release();
    }
  }

  async function expectAdopted(ds: DataSource, names: Parameters<typeof keptRows>[1], before: string[]) {
    expect(await securitySchemaStatus(ds)).toMatchObject({
      family: "ours",
      version: 4,
      label: "typeorm-security-models V4",
      flaskSecurityTables: [],
      appliedMigrations: ALL,
      pendingMigrations: [],
      drift: [],
      ok: true,
    });
    expect(await keptRows(ds, names)).toEqual(before);
    // The V4 migration has nothing left to do, so nothing to refuse.
    expect(await ds.runMigrations()).toEqual([]);
    expect(await indexed(ds, names.refresh!, "user_id")).toBe(true);
    expect(await indexed(ds, names.webauthn, "user_id")).toBe(true);
    expect((await planFlaskSecurityAdoption(ds)).action).toBe("done");
  }

  const fresh = async (entities: Function[], migrations: Function[] = securityMigrations) =>
    db.dataSource(entities, { migrations, dropSchema: true });

  it("fsqla v4: reported as such, planned without a change, adopted into V4 keeping every tracker", async () => {
    const ds = await fresh(v4.entities);
    try {
      await createFlaskSecuritySchema(ds, db.kind, 4);
      await ds.query(`ALTER TABLE ${q(ds, "user")} ADD display_name VARCHAR(80)`);
      const names = { user: "user", role: "role", webauthn: "web_authn", refresh: "fs_refresh_tracker", links: "roles_users" };
      await populate(ds, names);
      expect(await securitySchemaStatus(ds)).toMatchObject({
        family: "flask-security",
        version: 4,
        label: "Flask-Security fsqla v4",
        flaskSecurityTables: [],
        appliedMigrations: [],
        ok: false,
      });
      const before = await keptRows(ds, names);
      const dump = await databaseDump(ds, db.kind);
      const plan = await planFlaskSecurityAdoption(ds);
      expect(plan).toMatchObject({ found: "Flask-Security fsqla v4", action: "adopt", toVersion: 4, blockers: [], recordMigrations: ALL });
      expect(plan.changes).toContainEqual(
        expect.objectContaining({
          kind: "rebuild",
          tables: ["role", "user", "web_authn", "fs_refresh_tracker", "roles_users"],
          count: 2,
          roles: 1,
          links: 1,
        }),
      );
      expect(plan.changes).toContainEqual({ kind: "add-token-column", table: "user", column: "fs_token_uniquifier", count: 2 });
      expect(plan.changes).toContainEqual({ kind: "keep-app-columns", table: "user", columns: ["display_name"] });
      expect(plan.changes.some((change) => change.kind === "add-case-insensitive-email-index")).toBe(db.kind !== "mariadb");
      expect(plan.changes.map(describeAdoptionChange).join("\n")).toMatch(/fs_refresh_tracker.*2 user\(s\), 1 role\(s\) and 1 link\(s\)/);
      expect(await databaseDump(ds, db.kind)).toBe(dump);

      expect(await adoptFlaskSecurityDatabase(ds)).toEqual(plan);
      await expectAdopted(ds, names, before);
      // Ours beyond Flask-Security's: one email in any letter case.
      await expect(
        ds.query(
          `INSERT INTO ${q(ds, "user")} (email, active, fs_uniquifier, fs_token_uniquifier) VALUES ('ADA@example.com', TRUE, '${"x".repeat(64)}', '${"y".repeat(64)}')`,
        ),
      ).rejects.toThrow(/unique|duplicate/i);
    } finally {
      await ds.destroy();
    }
  });

  it("our V3 with fsqla v4's fs_refresh_tracker beside it: told apart, V4 refuses, adoption brings the table in", async () => {
    const made = await fresh([v3.User, v3.Role, v3.WebAuthn], [...securityMigrationsV3, appAddDisplayName("user")]);
    await made.runMigrations({ transaction: "all" });
    const tracker = ddlStatements("fsqla", 4, db.kind).find((statement) => /CREATE TABLE fs_refresh_tracker/.test(statement))!;
    await made.query(tracker);
    await made.destroy();

    const ds = await db.dataSource(v4.entities, { migrations: [...securityMigrations, appAddDisplayName("user")] });
    try {
      const names = { user: "user", role: "role", webauthn: "web_authn", refresh: "fs_refresh_tracker", links: "roles_users" };
      await ds.query(`INSERT INTO ${q(ds, "role")} (id, name, permissions) VALUES (1, 'admin', 'full-read,full-write')`);
      for (const id of [1, 2])
        await ds.query(
          `INSERT INTO ${q(ds, "user")} (id, email, active, fs_uniquifier, fs_token_uniquifier, password, fs_webauthn_user_handle) ` +
            `VALUES (${id}, 'user${id}@example.com', TRUE, '${String(id).repeat(64)}', '${String(id + 2).repeat(64)}', 'hash-${id}', 'handle-${id}')`,
        );
      await ds.query(`INSERT INTO roles_users (user_id, role_id) VALUES (1, 1)`);
      await ds.query(
        `INSERT INTO web_authn (id, credential_id, public_key, sign_count, backup_state, device_type, lastuse_datetime, name, ${q(ds, "usage")}, user_id) ` +
          `VALUES (1, ${bytes("c0ffee")}, ${bytes("0badf00d")}, 3, FALSE, 'single_device', '2025-01-02 03:04:05', 'laptop', 'first', 1)`,
      );
      await ds.query(
        `INSERT INTO fs_refresh_tracker (id, refresh_family, gen, expires_at, last_used_at, name, user_id) ` +
          `VALUES (1, '${"a".repeat(64)}', 2, '2026-01-01 00:00:00', '2025-01-03 04:05:06', 'phone', 2)`,
      );
      const status = await securitySchemaStatus(ds);
      expect(status).toMatchObject({
        family: "ours",
        version: 3,
        label: "typeorm-security-models V3 with Flask-Security's fs_refresh_tracker table(s) (fsqla v4)",
        flaskSecurityTables: ["fs_refresh_tracker"],
        pendingMigrations: [V4],
        ok: false,
      });
      expect(status.appliedMigrations).toEqual(UP_TO_V3);
      const before = await keptRows(ds, names);
      const dump = await databaseDump(ds, db.kind);
      await expect(ds.runMigrations()).rejects.toThrow(/fs_refresh_tracker/);
      expect(await databaseDump(ds, db.kind)).toBe(dump);

      const plan = await adoptFlaskSecurityDatabase(ds);
      expect(plan).toMatchObject({ action: "adopt", toVersion: 4, blockers: [] });
      expect(plan.changes.some((change) => change.kind === "add-token-column")).toBe(false);
      await expectAdopted(ds, names, before);
    } finally {
      await ds.destroy();
    }
  });

  const renamed: SqlaTableNames = { user: "account", role: "app_role", webauthn: "passkey", refresh: "refresh_family" };
  it.each([
    [1, SQLA_DEFAULT_NAMES],
    [2, SQLA_DEFAULT_NAMES],
    [2, renamed],
  ] as const)("sqla v%i (tables %j): reported as such and adopted, keyed roles_users and all", async (version, tables) => {
    const entities = version === 1 ? sqlaV1App(tables) : sqlaV2App(tables);
    const ds = await fresh(entities);
    try {
      await createFlaskSecuritySchema(ds, db.kind, version, "sqla");
      for (const key of ["user", "role", "webauthn", "refresh"] as const)
        if (tables[key] !== SQLA_DEFAULT_NAMES[key] && (key !== "refresh" || version === 2))
          await ds.query(`ALTER TABLE ${q(ds, SQLA_DEFAULT_NAMES[key])} RENAME TO ${q(ds, tables[key])}`);
      const names = { ...tables, refresh: version === 2 ? tables.refresh : undefined, links: "roles_users" };
      await populate(ds, names);
      const ours = version + 2;
      expect(await securitySchemaStatus(ds)).toMatchObject({
        family: "flask-security",
        version: ours,
        label: `Flask-Security sqla v${version}`,
      });
      const before = await keptRows(ds, names);
      const dump = await databaseDump(ds, db.kind);
      const plan = await planFlaskSecurityAdoption(ds);
      expect(plan).toMatchObject({ found: `Flask-Security sqla v${version}`, action: "adopt", toVersion: ours, blockers: [] });
      expect(plan.changes).toContainEqual(
        expect.objectContaining({
          kind: "rebuild",
          tables: [tables.role, tables.user, tables.webauthn, ...(version === 2 ? [tables.refresh] : []), "roles_users"],
          count: 2,
          links: 1,
        }),
      );
      expect(await databaseDump(ds, db.kind)).toBe(dump);
      await adoptFlaskSecurityDatabase(ds);
      if (version === 2) await expectAdopted(ds, names, before);
      else {
        expect(await securitySchemaStatus(ds)).toMatchObject({ family: "ours", version: 3, pendingMigrations: [V4], drift: [] });
        expect(await keptRows(ds, names)).toEqual(before);
      }
    } finally {
      await ds.destroy();
    }
  });

  describe("refusals change nothing", () => {
    const refused = async (ds: DataSource, message: RegExp) => {
      const dump = await databaseDump(ds, db.kind);
      const plan = await planFlaskSecurityAdoption(ds);
      expect(plan.action).toBe("blocked");
      expect(plan.blockers.join("\n")).toMatch(message);
      await expect(adoptFlaskSecurityDatabase(ds)).rejects.toThrow(AdoptionBlockedError);
      expect(await databaseDump(ds, db.kind)).toBe(dump);
    };

    it("fsqla v4 with an app still on V3", async () => {
      const ds = await fresh([v3.User, v3.Role, v3.WebAuthn]);
      try {
        await createFlaskSecuritySchema(ds, db.kind, 4);
        await populate(ds, { user: "user", role: "role", webauthn: "web_authn", refresh: "fs_refresh_tracker", links: "roles_users" });
        await refused(ds, /database is at version 4 and the app's User entity at V3: extend UserMixinV4/);
      } finally {
        await ds.destroy();
      }
    });

    it("sqla v2 whose fs_refresh another table references", async () => {
      const ds = await fresh(sqlaV2App(SQLA_DEFAULT_NAMES));
      try {
        await createFlaskSecuritySchema(ds, db.kind, 2, "sqla");
        await populate(ds, { ...SQLA_DEFAULT_NAMES, links: "roles_users" });
        await ds.query(`CREATE TABLE audit (id INTEGER PRIMARY KEY, tracker_id INTEGER REFERENCES fs_refresh (id))`);
        await refused(ds, /other tables have foreign keys .*audit → fs_refresh/);
      } finally {
        await ds.destroy();
      }
    });

    if (db.kind !== "mariadb")
      it("sqla v1 with two emails differing only in letter case", async () => {
        const ds = await fresh(sqlaV1App(SQLA_DEFAULT_NAMES));
        try {
          await createFlaskSecuritySchema(ds, db.kind, 1, "sqla");
          await populate(ds, { ...SQLA_DEFAULT_NAMES, refresh: undefined, links: "roles_users" });
          await ds.query(
            `INSERT INTO ${q(ds, "user")} (id, email, active, fs_uniquifier) VALUES (3, 'ADA@example.com', TRUE, '${"z".repeat(64)}')`,
          );
          await refused(ds, /1 email\(s\) are held by more than one user in different letter case/);
        } finally {
          await ds.destroy();
        }
      });
  });
});
