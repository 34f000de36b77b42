/**
 * The load trial shared by the reliability suite (one server) and the clusters suite (a pooler, Galera
 * nodes): concurrent sign-ins, role changes, uniquifier rotations and permission changes on many users, in a
 * seeded random order, each operation sent through one of the given datastores (one per node), then a check
 * that nothing acknowledged was lost or doubled.
 *
 * An operation that failed (on a node killed meanwhile, say) is "in doubt": it may have committed before its
 * connection broke. The check allows either outcome for it and nothing else.
 */
import type { DataSource, Logger } from "typeorm";
import type { RoleMixinV1, SecurityDatastore } from "../../../src";
import { isRetryable } from "../../../src/datastore/database-errors";
import type { UserBase } from "../../../src/user/base";

/** What the load needs of the app's User: any schema version from 2 (the token uniquifier) on. */
type User = UserBase & { fsTokenUniquifier: string; password?: string | null; username?: string | null };
type Role = RoleMixinV1;
export type Store = SecurityDatastore<User, Role>;
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
const ROLES = 8;
const HASH = "$2b$12$load-test-hash-load-test-hash-load-test-hash-load-test-ha";

/** One operation of `mix` drawn with `random`, each as often as its weight says. */
export function draw<K extends string>(mix: Array<[K, number]>, random: () => number): K {
  let ticket = random() * mix.reduce((sum, [, weight]) => sum + weight, 0);
  for (const [kind, weight] of mix) {
    ticket -= weight;
    if (ticket < 0) return kind;
  }
  return mix[0][0];
}

/** What `LoadState.check` finds when nothing is wrong. */
export const NOTHING_WRONG = {
  missingUsers: 0,
  lostLogins: [],
  duplicateUniquifiers: 0,
  foreignUniquifiers: [],
  wrongLinks: [],
  lostPermissions: [],
};

/**
 * A TypeORM logger that counts the deadlocks and serialization failures the database reported (each one the
 * datastore retried), for a DataSource's `logger` option.
 */
export function conflictCounter(): { logger: Logger; count: () => number } {
  let conflicts = 0;
  const logger: Logger = {
    logQuery() {},
    logQueryError: (error) => void (isRetryable(error) && conflicts++),
    logQuerySlow() {},
    logSchemaBuild() {},
    logMigration() {},
    log() {},
  };
  return { logger, count: () => conflicts };
}

/** The users, roles and everything the operations reported, to check the database against. */
export class LoadState {
  readonly logins = new Map<number, number>();
  readonly issued = new Map<number, { session: Set<string>; token: Set<string> }>();
  readonly linkBalance = new Map<string, number>();
  readonly added = new Map<number, Set<string>>();
  readonly counts: Record<Kind, number> = { login: 0, addRole: 0, removeRole: 0, rotate: 0, rotateToken: 0, addPermission: 0 };
  /** Operations that failed, with what they would have changed. */
  readonly failures: Array<{ n: number; kind: Kind; user: number; pair: string; role: number; permission: string; error: unknown }> = [];

  private constructor(
    readonly users: User[],
    readonly roles: Role[],
  ) {
    for (const u of users) this.issued.set(u.id, { session: new Set([u.fsUniquifier]), token: new Set([u.fsTokenUniquifier]) });
    users.forEach((u, i) => this.linkBalance.set(`${u.id}:${roles[i % ROLES].id}`, 1));
    roles.forEach((r, i) => this.added.set(r.id, new Set([`base-${i}`])));
  }

  /** Creates `users` users and 8 roles (named with `prefix`) through `store`; each user gets one role. */
  static async create(store: Store, users: number, prefix = "load"): Promise<LoadState> {
    const roles: Role[] = [];
    for (let r = 0; r < ROLES; r++) roles.push(await store.createRole({ name: `${prefix}-role-${r}`, permissions: [`base-${r}`] }));
    const created = await Promise.all(
      Array.from({ length: users }, (_, i) =>
        store.createUser({ email: `${prefix}${i}@example.com`, password: HASH }, { roles: [roles[i % ROLES]] }),
      ),
    );
    return new LoadState(created, roles);
  }

  /**
   * Runs `operations` operations drawn with `random`, `concurrency` at a time; operation n goes through
   * `storeFor(n)`. Resolves when all have ended (failures are recorded, not thrown); returns the seconds taken.
   */
  async run(operations: number, concurrency: number, random: () => number, storeFor: (n: number) => Store): Promise<number> {
    const plan = Array.from({ length: operations }, (_, n) => ({
      n,
      kind: draw(MIX, random),
      user: this.users[Math.floor(random() * this.users.length)],
      role: this.roles[Math.floor(random() * ROLES)],
    }));
    const queue = [...plan];
    const started = Date.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          const { n, kind, user, role } = next;
          await this.one(storeFor(n), n, kind, user, role).catch((error) =>
            this.failures.push({ n, kind, user: user.id, pair: `${user.id}:${role.id}`, role: role.id, permission: `perm-${n}`, error }),
          );
        }
      }),
    );
    return (Date.now() - started) / 1000;
  }

  private async one(store: Store, n: number, kind: Kind, user: User, role: Role): Promise<void> {
    this.counts[kind]++;
    const pair = `${user.id}:${role.id}`;
    switch (kind) {
      case "login":
        await store.recordLogin(user, `10.${n % 256}.0.1`);
        this.logins.set(user.id, (this.logins.get(user.id) ?? 0) + 1);
        return;
      case "addRole":
        if (await store.addRoleToUser(user, role)) this.linkBalance.set(pair, (this.linkBalance.get(pair) ?? 0) + 1);
        return;
      case "removeRole":
        if (await store.removeRoleFromUser(user, role)) this.linkBalance.set(pair, (this.linkBalance.get(pair) ?? 0) - 1);
        return;
      case "rotate": {
        const done = store.rotateUniquifier(user); // the new values are set before the first await
        this.issued.get(user.id)!.session.add(user.fsUniquifier);
        this.issued.get(user.id)!.token.add(user.fsTokenUniquifier);
        return done;
      }
      case "rotateToken": {
        const done = store.rotateTokenUniquifier(user);
        this.issued.get(user.id)!.token.add(user.fsTokenUniquifier);
        return done;
      }
      case "addPermission":
        await store.addPermissionsToRole(role.name, [`perm-${n}`]);
        this.added.get(role.id)!.add(`perm-${n}`);
        return;
    }
  }

  /**
   * What the database (read through `ds`, which must see every committed write: a primary, or a Galera node
   * after a causal read) disagrees with: each list names the users, links or roles that are wrong.
   */
  async check(ds: DataSource, store: Store) {
    const doubt = (kind: Kind, key: (f: LoadState["failures"][number]) => string | number) =>
      this.failures.filter((f) => f.kind === kind).map(key);
    const doubtfulLogins = doubt("login", (f) => f.user);
    const table = ds.driver.escape("user");
    const all: Array<{ id: number; login_count: number | null; fs_uniquifier: string; fs_token_uniquifier: string }> = await ds.query(
      `SELECT id, login_count, fs_uniquifier, fs_token_uniquifier FROM ${table} ORDER BY id`,
    );
    const stored = all.filter((row) => this.issued.has(row.id)); // the database may hold other tests' users
    const missingUsers = this.users.length - stored.length;
    const lostLogins = stored.filter((row) => {
      const acknowledged = this.logins.get(row.id) ?? 0;
      const count = Number(row.login_count ?? 0);
      return count < acknowledged || count > acknowledged + doubtfulLogins.filter((id) => id === row.id).length;
    });
    const duplicateUniquifiers =
      this.users.length * 2 - new Set(stored.map((r) => r.fs_uniquifier)).size - new Set(stored.map((r) => r.fs_token_uniquifier)).size;
    const foreignUniquifiers = stored.filter(
      (r) => !this.issued.get(r.id)!.session.has(r.fs_uniquifier) || !this.issued.get(r.id)!.token.has(r.fs_token_uniquifier),
    );

    const links: Array<{ user_id: number; role_id: number }> = await ds.query(`SELECT user_id, role_id FROM roles_users`);
    const present = new Set(links.filter((l) => this.issued.has(l.user_id)).map((l) => `${l.user_id}:${l.role_id}`));
    const doubtfulPairs = new Set([...doubt("addRole", (f) => f.pair), ...doubt("removeRole", (f) => f.pair)]);
    const wrongLinks = [...new Set([...this.linkBalance.keys(), ...present])].filter(
      (pair) => !doubtfulPairs.has(pair) && (this.linkBalance.get(pair) ?? 0) !== (present.has(pair) ? 1 : 0),
    );

    const doubtfulPermissions = new Set(doubt("addPermission", (f) => f.permission));
    const lostPermissions = [];
    for (const role of this.roles) {
      const held = new Set((await store.findRole(role.name))!.permissions);
      const want = this.added.get(role.id)!;
      if ([...want].some((p) => !held.has(p)) || [...held].some((p) => !want.has(p) && !doubtfulPermissions.has(p))) {
        lostPermissions.push(role.name);
      }
    }
    return { missingUsers, lostLogins, duplicateUniquifiers, foreignUniquifiers, wrongLinks, lostPermissions };
  }
}
