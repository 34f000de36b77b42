/**
 * `npm run bench:hot`: the hot paths of an app on every request, on each database, in one run, as ratios:
 * the mixin entities against the same entities written by hand (bench/hand-written.ts) and against raw SQL
 * through the same driver. Login lookup (email in any letter case, roles and permissions loaded), session load
 * (fs_uniquifier), record a login, sign up one user (createUser: the any-case duplicate check, then the insert),
 * create users with roles in batches; and hasRole / hasPermission in memory.
 *
 * BENCH_HOT_USERS (default 100000), BENCH_DATABASES (default sqlite,postgres,mariadb).
 */
import "reflect-metadata";
import { randomBytes } from "crypto";
import type { DataSource, Logger } from "typeorm";
import { SecurityDatastore } from "../src";
import { BenchRole, BenchUser } from "./entities";
import { HandRole, HandUser } from "./hand-written";
import { TestDatabase } from "../test/support/database";
import { DatabaseKind, probeServers } from "../test/support/servers";

const USERS = Number(process.env.BENCH_HOT_USERS ?? 100_000);
const BATCH = 1000;
const KINDS = (process.env.BENCH_DATABASES ?? "sqlite,postgres,mariadb").split(",") as DatabaseKind[];
const ROLES = Array.from({ length: 10 }, (_, r) => ({
  name: `role${r}`,
  permissions: Array.from({ length: 20 }, (_, p) => `perm-${r}-${p}`),
}));
const token = () => randomBytes(32).toString("hex");
const now = () => Number(process.hrtime.bigint()) / 1e6;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Microseconds per call of `fn`, after a warm-up, over about `ms` milliseconds. */
async function microsPerCall(fn: (i: number) => Promise<unknown>, ms = 2000): Promise<number> {
  for (let i = 0; i < 20; i++) await fn(i);
  let n = 0;
  const start = now();
  while (now() - start < ms) await fn(n++);
  return ((now() - start) * 1000) / n;
}

/** Runs each variant `rounds` times, interleaved, and returns the median of each. */
async function compare(variants: Record<string, (i: number) => Promise<unknown>>, rounds = 5): Promise<Record<string, number>> {
  const runs: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let round = 0; round < rounds; round++) for (const [name, fn] of Object.entries(variants)) runs[name].push(await microsPerCall(fn));
  return Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, median(v)]));
}

function placeholders(kind: DatabaseKind, sql: string): string {
  let n = 0;
  return kind === "postgres" ? sql.replace(/\?/g, () => `$${++n}`) : sql;
}

const userFields = (i: number) => ({
  email: `user${i}@example.com`,
  password: "$2b$12$" + "x".repeat(53),
  active: true,
  fsUniquifier: token(),
  fsTokenUniquifier: token(),
});

async function createUsers(ds: DataSource, kind: DatabaseKind) {
  const times: Record<string, number> = {};
  const q = (name: string) => ds.driver.escape(name);
  // raw: multi-row INSERTs of users, then of their links, batch by batch, in one transaction
  let start = now();
  await ds.transaction(async (manager) => {
    for (let from = 0; from < USERS; from += BATCH) {
      const rows = Array.from({ length: BATCH }, (_, k) => userFields(from + k));
      const values = rows.map(() => `(?, ?, ?, ?, ?)`).join(", ");
      const params = rows.flatMap((r) => [r.email, r.password, kind === "sqlite" ? 1 : true, r.fsUniquifier, r.fsTokenUniquifier]);
      await manager.query(
        placeholders(kind, `INSERT INTO ${q("user")} (email, password, active, fs_uniquifier, fs_token_uniquifier) VALUES ${values}`),
        params,
      );
      await manager.query(
        placeholders(
          kind,
          `INSERT INTO roles_users (user_id, role_id) SELECT id, 1 + id % 10 FROM ${q("user")} WHERE id > ? UNION ALL SELECT id, 1 + (id + 1) % 10 FROM ${q("user")} WHERE id > ?`,
        ),
        [from, from],
      );
    }
  });
  times.raw = now() - start;
  await ds.query(`DELETE FROM roles_users`);
  await ds.query(`DELETE FROM ${q("user")}`);

  // Twice each, in the order hand, mixin, mixin, hand, so neither gains from running first or last.
  const runs: Record<string, number[]> = { hand: [], mixin: [] };
  const order = [
    ["hand", HandUser, HandRole],
    ["mixin", BenchUser, BenchRole],
    ["mixin", BenchUser, BenchRole],
    ["hand", HandUser, HandRole],
  ] as const;
  for (const [name, User, Role] of order) {
    const roles = await ds.getRepository(Role).find({ order: { id: "ASC" } });
    const users = ds.getRepository(User);
    const table = ds.getMetadata(User).tableName;
    const links = ds.getMetadata(User).findRelationWithPropertyPath("roles")!.junctionEntityMetadata!.tableName;
    // A warm-up batch (deleted again) so neither variant pays for the JIT alone.
    for (const warm of [true, false]) {
      if (!warm) start = now();
      await ds.transaction(async (manager) => {
        for (let from = warm ? USERS : 0; from < (warm ? USERS + BATCH : USERS); from += BATCH) {
          const batch = Array.from({ length: BATCH }, (_, k) => {
            const i = from + k;
            // The hand-written app sets its own tokens; the mixin fills them in its insert hook.
            const fields = name === "hand" ? userFields(i) : { email: `user${i}@example.com`, password: "$2b$12$" + "x".repeat(53) };
            return users.create({ ...fields, roles: [roles[i % 10], roles[(i + 1) % 10]] } as never) as unknown as BenchUser;
          });
          await manager.getRepository(User as typeof BenchUser).save(batch, { chunk: BATCH });
        }
      });
      if (warm) {
        await ds.query(`DELETE FROM ${q(links)}`);
        await ds.query(`DELETE FROM ${q(table)}`);
      }
    }
    runs[name].push(now() - start);
    if (runs[name].length === 1) {
      // Empty the tables for the second run of this variant (its first run left 100,000 users).
      await ds.query(`DELETE FROM ${q(links)}`);
      await ds.query(`DELETE FROM ${q(table)}`);
    }
  }
  times.hand = (runs.hand[0] + runs.hand[1]) / 2;
  times.mixin = (runs.mixin[0] + runs.mixin[1]) / 2;
  return times;
}

async function hotPaths(kind: DatabaseKind) {
  const db = new TestDatabase(kind);
  await db.create();
  let queries = 0;
  const counting: Logger = {
    logQuery: () => void queries++,
    logQueryError() {},
    logQuerySlow() {},
    logSchemaBuild() {},
    logMigration() {},
    log() {},
  };
  try {
    const ds = await db.dataSource([BenchUser, BenchRole, HandUser, HandRole], { synchronize: true, logger: counting });
    await ds.getRepository(BenchRole).save(ROLES.map((r) => ds.getRepository(BenchRole).create(r)));
    await ds.getRepository(HandRole).save(ROLES.map((r) => ds.getRepository(HandRole).create(r)));
    const created = await createUsers(ds, kind);
    // The creation runs deleted rows; give every table the same clean start (PostgreSQL scans dead tuples too).
    if (kind === "postgres") await ds.query(`VACUUM ANALYZE`);
    else if (kind === "sqlite") await ds.query(`VACUUM`);
    else
      for (const table of ["user", "roles_users", "hand_user", "hand_roles_users"])
        await ds.query(`OPTIMIZE TABLE ${ds.driver.escape(table)}`);

    const store = new SecurityDatastore(ds, BenchUser, BenchRole);
    const hand = ds.getRepository(HandUser);
    const pick = (i: number) => (i * 7919) % USERS;
    const email = (i: number) => `USER${pick(i)}@Example.com`;
    const q = (name: string) => ds.driver.escape(name);
    const rawLookup = (where: string) =>
      placeholders(
        kind,
        `SELECT u.*, r.id AS r_id, r.name AS r_name, r.permissions AS r_permissions FROM ${q("user")} u
        LEFT JOIN roles_users l ON l.user_id = u.id LEFT JOIN role r ON r.id = l.role_id WHERE ${where}`,
      );
    const tokens: string[] = (await ds.query(`SELECT fs_uniquifier AS t FROM ${q("user")} ORDER BY id`)).map((r: { t: string }) => r.t);
    const handTokens: string[] = (await ds.query(`SELECT fs_uniquifier AS t FROM hand_user ORDER BY id`)).map((r: { t: string }) => r.t);

    await store.findUserByEmail(email(0)); // the datastore learns the column collation once (MariaDB)
    queries = 0;
    const check = await store.findUserByEmail(email(1), { withRoles: true });
    const lookupQueries = queries;
    if (!check || check.roles.length !== 2 || !check.hasPermission(`perm-${pick(1) % 10}-3`))
      throw new Error("login lookup returned the wrong user");

    // The same condition everywhere: MariaDB's default collation ignores case, so plain equality (and the index).
    const anyCase = (column: string) => (kind === "mariadb" ? `${column} = ?` : `LOWER(${column}) = LOWER(?)`);
    const login = await compare({
      mixin: (i) => store.findUserByEmail(email(i), { withRoles: true }),
      hand: (i) =>
        hand
          .createQueryBuilder("user")
          .leftJoinAndSelect("user.roles", "role")
          .where(anyCase("user.email").replace("?", ":email"), { email: email(i) })
          .getOne(),
      raw: (i) => ds.query(rawLookup(anyCase("u.email")), [email(i)]),
    });
    const session = await compare({
      mixin: (i) => store.findUserByUniquifier(tokens[pick(i)], { withRoles: true }),
      hand: (i) =>
        hand
          .createQueryBuilder("user")
          .leftJoinAndSelect("user.roles", "role")
          .where("user.fsUniquifier = :t", { t: handTokens[pick(i)] })
          .getOne(),
      raw: (i) => ds.query(rawLookup("u.fs_uniquifier = ?"), [tokens[pick(i)]]),
    });
    const users = await Promise.all([0, 1, 2, 3].map((i) => store.findUserByUniquifier(tokens[pick(i)])));
    const loginAt = new Date();
    const record = await compare({
      mixin: (i) => store.recordLogin(users[i % 4]!, "192.0.2.1", loginAt),
      raw: (i) =>
        ds.query(
          placeholders(
            kind,
            `UPDATE ${q("user")} SET last_login_at = current_login_at, current_login_at = ?, last_login_ip = current_login_ip, current_login_ip = ?, login_count = COALESCE(login_count, 0) + 1, update_datetime = CURRENT_TIMESTAMP WHERE id = ?`,
          ),
          [
            ds.driver.preparePersistentValue(loginAt, ds.getMetadata(BenchUser).findColumnWithPropertyName("currentLoginAt")!),
            "192.0.2.1",
            users[i % 4]!.id,
          ],
        ),
    });
    // One sign-up each, emails with i and k (the letters whose non-ASCII variants may need a scan), never reused.
    let signups = 0;
    const signupEmail = () => `kim.link.${signups++}@example.com`;
    const signup = await compare({
      mixin: () => store.createUser({ email: signupEmail(), password: "$2b$12$" + "x".repeat(53) }),
      raw: () =>
        ds.transaction(async (manager) => {
          const fields = userFields(0);
          const address = signupEmail();
          const taken = await manager.query(placeholders(kind, `SELECT id FROM ${q("user")} WHERE ${anyCase("email")}`), [address]);
          if (taken.length > 0) throw new Error("raw sign-up found a duplicate");
          await manager.query(
            placeholders(
              kind,
              `INSERT INTO ${q("user")} (email, password, active, fs_uniquifier, fs_token_uniquifier) VALUES (?, ?, ?, ?, ?)`,
            ),
            [address, fields.password, kind === "sqlite" ? 1 : true, fields.fsUniquifier, fields.fsTokenUniquifier],
          );
        }),
    });
    return { kind, created, login, session, record, signup, lookupQueries };
  } finally {
    await db.drop();
  }
}

/** hasRole / hasPermission on a user with 10 roles of 20 permissions: nanoseconds per call. */
function permissionChecks() {
  const user = Object.assign(new BenchUser(), {
    roles: ROLES.map((r, i) => Object.assign(new BenchRole(), { id: i + 1, ...r })),
  });
  const time = (fn: () => boolean, n = 1_000_000) => {
    let hits = 0;
    const start = now();
    for (let i = 0; i < n; i++) if (fn()) hits++;
    if (hits !== n && hits !== 0) throw new Error("inconsistent answers");
    return ((now() - start) * 1e6) / n;
  };
  const firstStart = now();
  user.hasPermission("perm-9-19");
  const first = (now() - firstStart) * 1e6;
  return {
    first,
    hasRoleHit: time(() => user.hasRole("role9")),
    hasRoleMiss: time(() => user.hasRole("nope")),
    permissionHitLast: time(() => user.hasPermission("perm-9-19")),
    permissionMiss: time(() => user.hasPermission("nope")),
  };
}

async function main() {
  const down = await probeServers();
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  const checks = permissionChecks();
  console.log(`Hot paths, ${USERS.toLocaleString("en")} users with 2 of 10 roles (20 permissions each); medians of 5 rounds of 2 s\n`);
  console.log(
    `hasRole / hasPermission, user with 10 roles × 20 permissions (ns per call): first call ${checks.first.toFixed(0)}, ` +
      `hasRole hit ${checks.hasRoleHit.toFixed(0)}, hasRole miss ${checks.hasRoleMiss.toFixed(0)}, hasPermission hit (last permission of last role) ${checks.permissionHitLast.toFixed(0)}, hasPermission miss ${checks.permissionMiss.toFixed(0)}\n`,
  );
  console.log("| database | operation | mixin | hand-written | raw SQL | mixin / hand | mixin / raw |");
  console.log("|---|---|---|---|---|---|---|");
  for (const kind of KINDS) {
    if (down[kind]) {
      console.log(`| ${kind} | skipped: ${down[kind]} | | | | | |`);
      continue;
    }
    const r = await hotPaths(kind);
    const us = (x: number) => `${x.toFixed(0)} µs`;
    console.log(
      `| ${kind} | login lookup by email, any case, roles loaded (${r.lookupQueries} query${r.lookupQueries === 1 ? "" : "ies"}) | ${us(r.login.mixin)} | ${us(r.login.hand)} | ${us(r.login.raw)} | ${ratio(r.login.mixin, r.login.hand)} | ${ratio(r.login.mixin, r.login.raw)} |`,
    );
    console.log(
      `| ${kind} | session load by fs_uniquifier, roles loaded | ${us(r.session.mixin)} | ${us(r.session.hand)} | ${us(r.session.raw)} | ${ratio(r.session.mixin, r.session.hand)} | ${ratio(r.session.mixin, r.session.raw)} |`,
    );
    console.log(
      `| ${kind} | record a login (one UPDATE) | ${us(r.record.mixin)} | | ${us(r.record.raw)} | | ${ratio(r.record.mixin, r.record.raw)} |`,
    );
    console.log(
      `| ${kind} | sign up one user, email with i and k (duplicate check + insert) | ${us(r.signup.mixin)} | | ${us(r.signup.raw)} | | ${ratio(r.signup.mixin, r.signup.raw)} |`,
    );
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    console.log(
      `| ${kind} | create ${USERS.toLocaleString("en")} users with 2 roles, batches of ${BATCH} | ${s(r.created.mixin)} | ${s(r.created.hand)} | ${s(r.created.raw)} | ${ratio(r.created.mixin, r.created.hand)} | ${ratio(r.created.mixin, r.created.raw)} |`,
    );
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
