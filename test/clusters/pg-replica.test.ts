/**
 * A PostgreSQL primary with a streaming replica, through TypeORM's `replication` option. The replica's replay
 * is paused (`pg_wal_replay_pause()`) to make it lag as far as a test needs, deterministically; each test
 * shows the replica really is behind (it still answers with the old row) and that the datastore is not:
 * revocations hold, a new user is found at once, and migrations, status, the live check and adoption see the
 * primary. With the replica stopped the datastore goes on.
 */
import { readFileSync } from "fs";
import { join } from "path";
import type { DataSource } from "typeorm";
import {
  adoptFlaskSecurityDatabase,
  checkSecurityDatabase,
  planFlaskSecurityAdoption,
  SecurityDatastore,
  securitySchemaStatus,
} from "../../src";
import { securityMigrationsV3, securityMigrationsV1 } from "../../migrations";
import { appAddDisplayName } from "../fixtures/app-migrations";
import { Role, User } from "../fixtures/app-v2";
import * as V1 from "../fixtures/app-v1";
import * as V3 from "../fixtures/app-v3";
import { recordFigures } from "../reliability/support/figures";
import {
  clustersScript,
  describeOn,
  PG_PRIMARY_URL,
  PG_REPLICA_URL,
  PgClusterDatabase,
  pauseReplica,
  replicaCaughtUp,
  resumeReplica,
  withPgAt,
} from "./support/clusters";

const HASH = "$2b$12$replica-test-hash-replica-test-hash-replica-test-hash-re";

/** The rows the replica itself answers for `sql` in `database`: what a read sent there would get. */
const onReplica = (database: string, sql: string, params: unknown[] = []) =>
  withPgAt(PG_REPLICA_URL.replace(/\/[^/]*$/, `/${database}`), async (c) => (await c.query(sql, params)).rows);

describeOn("pg-replica", "PostgreSQL primary + streaming replica", () => {
  const db = new PgClusterDatabase();
  let ds: DataSource;
  let store: SecurityDatastore<User, Role>;
  const figures = { revocationChecks: 0, staleReplicaReadsSeen: 0 };

  beforeAll(async () => {
    await db.create();
    await replicaCaughtUp(); // the replica has the database: TypeORM connects to it at initialize
    ds = await db.dataSource("replication", { entities: [User, Role], synchronize: true, poolSize: 5 });
    store = new SecurityDatastore(ds, User, Role);
    await store.createRole({ name: "editor", permissions: ["post-read", "post-write"] });
  });
  afterEach(resumeReplica);
  afterAll(async () => {
    await resumeReplica();
    await db.drop();
    recordFigures("clusters-pg-replica", "postgres", figures);
  });

  it("after createUser the same datastore finds the user at once, however far the replica lags", async () => {
    await replicaCaughtUp();
    await pauseReplica();
    const ada = await store.createUser({ email: "Ada@example.com", password: HASH }, { roles: ["editor"] });
    expect(await onReplica(db.name, `SELECT id FROM "user" WHERE id = $1`, [ada.id])).toEqual([]); // the replica lags
    expect((await store.findUserByEmail("ada@EXAMPLE.com"))?.id).toBe(ada.id);
    expect((await store.findUserByUniquifier(ada.fsUniquifier, { withRoles: true }))?.hasRole("editor")).toBe(true);
    expect((await store.findUserByTokenUniquifier(ada.fsTokenUniquifier))?.id).toBe(ada.id);
    // Duplicate checks of a sign-up see it too.
    await expect(store.createUser({ email: "ADA@example.com", password: HASH })).rejects.toMatchObject({
      field: "email",
      rule: "duplicate",
    });
    await store.recordLogin(ada, "10.0.0.1");
    expect(await store.addRoleToUser(ada, "editor")).toBe(false); // the link is seen on the primary
  });

  it("rotateUniquifier, rotateTokenUniquifier and deactivateUser are never undone by lag", async () => {
    const bob = await store.createUser({ email: "bob@example.com", password: HASH }, { roles: ["editor"] });
    await replicaCaughtUp();
    await pauseReplica();
    const [session, token] = [bob.fsUniquifier, bob.fsTokenUniquifier];

    await store.rotateUniquifier(bob);
    // The replica still has the old identity: a lookup sent there (TypeORM's own reads go there) finds the user.
    expect(await onReplica(db.name, `SELECT id FROM "user" WHERE fs_uniquifier = $1`, [session])).toEqual([{ id: bob.id }]);
    expect((await ds.getRepository(User).findOneBy({ fsUniquifier: session }))?.id).toBe(bob.id);
    figures.staleReplicaReadsSeen += 2;
    expect(await store.findUserByUniquifier(session)).toBeNull();
    expect(await store.findUserByTokenUniquifier(token)).toBeNull();
    expect((await store.findUserByUniquifier(bob.fsUniquifier))?.id).toBe(bob.id);

    const token2 = bob.fsTokenUniquifier;
    await store.rotateTokenUniquifier(bob);
    expect(await store.findUserByTokenUniquifier(token2)).toBeNull();
    expect((await store.findUserByTokenUniquifier(bob.fsTokenUniquifier))?.id).toBe(bob.id);

    expect(await store.deactivateUser(bob)).toBe(true);
    expect((await store.findUserByEmail("bob@example.com"))?.active).toBe(false);
    expect((await store.findUserByUniquifier(bob.fsUniquifier))?.active).toBe(false);
    expect(await store.toggleActive(bob)).toBe(true); // read back from the primary, not the stale replica
    expect(await store.toggleActive(bob)).toBe(false);

    expect(await store.removeRoleFromUser(bob, "editor")).toBe(true);
    expect((await store.findUserByUniquifier(bob.fsUniquifier, { withRoles: true }))?.hasRole("editor")).toBe(false);
    expect(await store.removePermissionsFromRole("editor", "post-write")).toBe(true);
    expect((await store.findRole("editor"))?.permissions).toEqual(["post-read"]);
    expect(await onReplica(db.name, `SELECT permissions FROM role WHERE name = 'editor'`)).toEqual([
      { permissions: "post-read,post-write" },
    ]);
    figures.revocationChecks += 9;
  });

  it("migrations, status, the live check and adoption run against the primary", async () => {
    const fresh = new PgClusterDatabase();
    await fresh.create();
    try {
      await replicaCaughtUp();
      await pauseReplica();
      const v3 = await fresh.dataSource("replication", {
        entities: [V3.User, V3.Role, V3.WebAuthn],
        migrations: [...securityMigrationsV3, appAddDisplayName("user")],
      });
      await v3.runMigrations({ transaction: "all" });
      expect(await onReplica(fresh.name, `SELECT to_regclass('"user"') AS t`)).toEqual([{ t: null }]); // the replica has no tables
      expect(await securitySchemaStatus(v3)).toMatchObject({ family: "ours", version: 3, pendingMigrations: [], drift: [], ok: true });
      expect(await checkSecurityDatabase(v3, { trackable: true, tokenIdentity: true, webauthn: true, recoveryCodes: true })).toEqual([]);
    } finally {
      await resumeReplica();
      await fresh.drop();
    }

    const flask = new PgClusterDatabase();
    await flask.create();
    try {
      await replicaCaughtUp();
      await pauseReplica();
      const ddl = readFileSync(join(__dirname, "..", "fixtures", "flask-security-ddl", "v1-postgresql.sql"), "utf8").replace(
        /^--.*$/gm,
        "",
      );
      await withPgAt(PG_PRIMARY_URL.replace(/\/[^/]*$/, `/${flask.name}`), async (c) => {
        await c.query(ddl);
        await c.query(`INSERT INTO role (name, permissions) VALUES ('admin', 'a,b')`);
        await c.query(`INSERT INTO "user" (email, password, active, fs_uniquifier) VALUES ('fs@example.com', 'x', true, 'u1')`);
        await c.query(`INSERT INTO roles_users (user_id, role_id) VALUES (1, 1)`);
      });
      const v1 = await flask.dataSource("replication", { entities: [V1.User, V1.Role], migrations: securityMigrationsV1 });
      expect(await planFlaskSecurityAdoption(v1)).toMatchObject({ found: "Flask-Security fsqla v1", action: "adopt", blockers: [] });
      expect((await adoptFlaskSecurityDatabase(v1)).action).toBe("adopt");
      expect(await securitySchemaStatus(v1)).toMatchObject({ family: "ours", version: 1, pendingMigrations: [], ok: true });
      expect(await onReplica(flask.name, `SELECT to_regclass('"user"') AS t`)).toEqual([{ t: null }]);
    } finally {
      await resumeReplica();
      await flask.drop();
    }
  });

  it("with the replica stopped, every datastore operation goes on (none reads from it)", async () => {
    try {
      await clustersScript("stop", "pg-replica");
      const cy = await store.createUser({ email: "cy@example.com", password: HASH }, { roles: ["editor"] });
      expect((await store.findUserByEmail("cy@example.com"))?.id).toBe(cy.id);
      expect((await store.findUserByUniquifier(cy.fsUniquifier))?.id).toBe(cy.id);
      expect((await store.findUserByTokenUniquifier(cy.fsTokenUniquifier))?.id).toBe(cy.id);
      await store.recordLogin(cy, "10.0.0.2");
      await store.rotateUniquifier(cy);
      expect(await store.addRoleToUser(cy, "editor")).toBe(false);
      expect(await store.removeRoleFromUser(cy, "editor")).toBe(true);
      expect(await store.deactivateUser(cy)).toBe(true);
      expect((await store.findOrCreateRole("viewer")).name).toBe("viewer");
      expect(await store.addPermissionsToRole("viewer", "read")).toBe(true);
      // TypeORM's own reads are sent to the replica and fail: the app decides what to do with those.
      await expect(ds.getRepository(User).findOneBy({ id: cy.id })).rejects.toThrow();
    } finally {
      await clustersScript("start", "pg");
    }
  });
});
