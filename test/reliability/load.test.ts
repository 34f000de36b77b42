/**
 * Load: concurrent sign-ins, role changes and uniquifier rotations on many users through a pool, on each
 * database, in a seeded random order. Afterwards nothing is lost or doubled: every user's login count is
 * exactly its number of recorded sign-ins, no two users share a uniquifier, every stored uniquifier is one
 * the run generated for that user, every role link exists exactly when the reported adds and removes say so,
 * and every permission added to a role is on it. No operation may fail: the datastore retries the deadlocks
 * and serialization failures the databases report (counted here from TypeORM's query-error log); a crafted
 * deadlock shows the retry at work.
 *
 * TSM_LOAD_OPS (default 1,200 per database), TSM_LOAD_USERS (200), TSM_LOAD_SEED.
 */
import { In, type DataSource, type Logger } from "typeorm";
import { SecurityDatastore } from "../../src";
import { isRetryable, retryingConflicts } from "../../src/datastore/database-errors";
import { Role, User } from "../fixtures/app-v2";
import { describeEachDatabase } from "../support/database";
import { countFrom, recordFigures, seededRandom, seedFrom } from "./support/figures";

const OPS = countFrom("TSM_LOAD_OPS", 1200);
const USERS = countFrom("TSM_LOAD_USERS", 200);
const ROLES = 8;
const CONCURRENCY = 40;
const HASH = "$2b$12$load-test-hash-load-test-hash-load-test-hash-load-test-ha";

type Kind = "login" | "addRole" | "removeRole" | "rotate" | "rotateToken" | "addPermission";
/** How often each operation is drawn: sign-ins dominate, as in a real app. */
const MIX: Array<[Kind, number]> = [
  ["login", 40],
  ["addRole", 15],
  ["removeRole", 15],
  ["rotate", 10],
  ["rotateToken", 10],
  ["addPermission", 10],
];

function draw(random: () => number): Kind {
  let ticket = random() * MIX.reduce((sum, [, weight]) => sum + weight, 0);
  for (const [kind, weight] of MIX) {
    ticket -= weight;
    if (ticket < 0) return kind;
  }
  return "login";
}

describeEachDatabase("load", (db) => {
  let ds: DataSource;
  let store: SecurityDatastore<User, Role>;
  let conflicts = 0;
  const counting: Logger = {
    logQuery() {},
    logQueryError: (error) => void (isRetryable(error) && conflicts++),
    logQuerySlow() {},
    logSchemaBuild() {},
    logMigration() {},
    log() {},
  };

  beforeAll(async () => {
    ds = await db.dataSource([User, Role], { synchronize: true, logger: counting, poolSize: 10 });
    store = new SecurityDatastore(ds, User, Role);
  });

  it(`${OPS} concurrent sign-ins, role changes and rotations on ${USERS} users lose nothing`, async () => {
    const seed = seedFrom("TSM_LOAD_SEED", `load [${db.kind}]`);
    const random = seededRandom(seed);
    const roles: Role[] = [];
    for (let r = 0; r < ROLES; r++) roles.push(await store.createRole({ name: `role-${r}`, permissions: [`base-${r}`] }));
    const users = await Promise.all(
      Array.from({ length: USERS }, (_, i) =>
        store.createUser({ email: `load${i}@example.com`, password: HASH }, { roles: [roles[i % ROLES]] }),
      ),
    );

    const logins = new Map<number, number>();
    const issued = new Map<number, { session: Set<string>; token: Set<string> }>(
      users.map((u) => [u.id, { session: new Set([u.fsUniquifier]), token: new Set([u.fsTokenUniquifier]) }]),
    );
    const linkBalance = new Map<string, number>(users.map((u, i) => [`${u.id}:${roles[i % ROLES].id}`, 1]));
    const added = new Map<number, Set<string>>(roles.map((r, i) => [r.id, new Set([`base-${i}`])]));
    const counts: Record<Kind, number> = { login: 0, addRole: 0, removeRole: 0, rotate: 0, rotateToken: 0, addPermission: 0 };
    const failures: unknown[] = [];

    const plan = Array.from({ length: OPS }, (_, n) => ({
      n,
      kind: draw(random),
      user: users[Math.floor(random() * USERS)],
      role: roles[Math.floor(random() * ROLES)],
    }));
    const run = async ({ n, kind, user, role }: (typeof plan)[number]) => {
      counts[kind]++;
      const pair = `${user.id}:${role.id}`;
      switch (kind) {
        case "login":
          await store.recordLogin(user, `10.${n % 256}.0.1`);
          logins.set(user.id, (logins.get(user.id) ?? 0) + 1);
          return;
        case "addRole":
          if (await store.addRoleToUser(user, role)) linkBalance.set(pair, (linkBalance.get(pair) ?? 0) + 1);
          return;
        case "removeRole":
          if (await store.removeRoleFromUser(user, role)) linkBalance.set(pair, (linkBalance.get(pair) ?? 0) - 1);
          return;
        case "rotate": {
          const done = store.rotateUniquifier(user); // the new values are set before the first await
          issued.get(user.id)!.session.add(user.fsUniquifier);
          issued.get(user.id)!.token.add(user.fsTokenUniquifier);
          return done;
        }
        case "rotateToken": {
          const done = store.rotateTokenUniquifier(user);
          issued.get(user.id)!.token.add(user.fsTokenUniquifier);
          return done;
        }
        case "addPermission":
          await store.addPermissionsToRole(role.name, [`perm-${n}`]);
          added.get(role.id)!.add(`perm-${n}`);
          return;
      }
    };
    const queue = [...plan];
    const started = Date.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) await run(next).catch((error) => failures.push(error));
      }),
    );
    const seconds = (Date.now() - started) / 1000;

    expect(failures.map((e) => `${(e as Error).name}: ${(e as Error).message}`)).toEqual([]);
    const table = ds.driver.escape("user");
    const stored: Array<{ id: number; login_count: number | null; fs_uniquifier: string; fs_token_uniquifier: string }> = await ds.query(
      `SELECT id, login_count, fs_uniquifier, fs_token_uniquifier FROM ${table} ORDER BY id`,
    );
    const lostLogins = stored.filter((row) => Number(row.login_count ?? 0) !== (logins.get(row.id) ?? 0));
    expect(lostLogins).toEqual([]);
    expect(new Set(stored.map((r) => r.fs_uniquifier)).size).toBe(USERS);
    expect(new Set(stored.map((r) => r.fs_token_uniquifier)).size).toBe(USERS);
    expect(
      stored.filter((r) => !issued.get(r.id)!.session.has(r.fs_uniquifier) || !issued.get(r.id)!.token.has(r.fs_token_uniquifier)),
    ).toEqual([]);

    const links: Array<{ user_id: number; role_id: number }> = await ds.query(`SELECT user_id, role_id FROM roles_users`);
    const present = new Set(links.map((l) => `${l.user_id}:${l.role_id}`));
    const wrongLinks = [...new Set([...linkBalance.keys(), ...present])].filter(
      (pair) => (linkBalance.get(pair) ?? 0) !== (present.has(pair) ? 1 : 0),
    );
    expect(wrongLinks).toEqual([]);

    const lostPermissions = [];
    for (const role of roles) {
      const reloaded = (await store.findRole(role.name))!;
      const want = [...added.get(role.id)!].sort();
      if (JSON.stringify([...reloaded.permissions].sort()) !== JSON.stringify(want)) lostPermissions.push(role.name);
    }
    expect(lostPermissions).toEqual([]);

    recordFigures("load", db.kind, {
      seed,
      operations: OPS + USERS + ROLES,
      concurrentOperations: OPS,
      mix: counts,
      users: USERS,
      concurrency: CONCURRENCY,
      pool: db.kind === "sqlite" ? 1 : 10,
      seconds,
      conflictsRetried: conflicts,
      failedOperations: failures.length,
      lostLoginCounts: lostLogins.length,
      duplicateUniquifiers:
        USERS * 2 - new Set(stored.map((r) => r.fs_uniquifier)).size - new Set(stored.map((r) => r.fs_token_uniquifier)).size,
      wrongLinks: wrongLinks.length,
      lostPermissions: lostPermissions.length,
    });
  });

  // SQLite has one connection per DataSource, so two transactions never wait for each other there.
  (db.kind === "sqlite" ? it.skip : it)(
    `a real deadlock the database reports is retried, and both operations complete${db.kind === "sqlite" ? " (not on SQLite: one connection, so no deadlock)" : ""}`,
    async () => {
      const [a, b] = [await store.createRole({ name: "lock-a" }), await store.createRole({ name: "lock-b" })];
      const p = (n: number) => (db.kind === "postgres" ? `$${n}` : "?");
      let attempts = 0;
      let arrived = 0;
      let release!: () => void;
      const bothHoldTheirFirstRow = new Promise<void>((resolve) => (release = resolve));
      /** Locks `first`, waits (on its first try) until the other holds its own first row, then locks `second`. */
      const crossing = (first: number, second: number) => {
        let tries = 0;
        return retryingConflicts(ds, ds.getMetadata(Role), () =>
          ds.transaction(async (manager) => {
            attempts++;
            await manager.query(`UPDATE role SET description = 'first' WHERE id = ${p(1)}`, [first]);
            if (++tries === 1 && ++arrived === 2) release();
            if (tries === 1) await bothHoldTheirFirstRow;
            await manager.query(`UPDATE role SET description = 'second' WHERE id = ${p(1)}`, [second]);
          }),
        );
      };
      const before = conflicts;
      await Promise.all([crossing(a.id, b.id), crossing(b.id, a.id)]);
      expect(conflicts - before).toBe(1); // the database chose one victim...
      expect(attempts).toBe(3); // ...which ran again and completed
      const stored = await ds.getRepository(Role).findBy({ name: In(["lock-a", "lock-b"]) });
      expect(stored.map((r) => r.description).sort()).toEqual(["first", "second"]); // the victim's retry wrote last
    },
  );
});
