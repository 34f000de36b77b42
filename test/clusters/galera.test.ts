/**
 * A 3-node MariaDB Galera cluster: every node takes writes, other nodes' writes are applied asynchronously,
 * and conflicting writes on two nodes are settled at commit (certification: one of them fails as a deadlock).
 * The datastore runs on one DataSource per node. Reads that security depends on must be causal: a node is
 * held behind deterministically with FLUSH TABLES WITH READ LOCK, which stops it applying the others' writes.
 */
import { createConnection } from "mysql2/promise";
import type { DataSource } from "typeorm";
import { DuplicateValueError, SecurityDatastore, securitySchemaStatus } from "../../src";
import { collisionValue } from "../../src/datastore/identity-lock";
import { securityMigrationsV3, securityMigrationsV1, securityMigrationsV2 } from "../../migrations";
import { appAddDisplayName } from "../fixtures/app-migrations";
import { Role, User } from "../fixtures/app-v2";
import * as V1 from "../fixtures/app-v1";
import * as V3 from "../fixtures/app-v3";
import { countFrom, recordFigures, seededRandom, seedFrom } from "../reliability/support/figures";
import { conflictCounter, LoadState, NOTHING_WRONG, type Store } from "../reliability/support/load";
import { clustersScript, describeOn, GALERA_URLS, GaleraDatabase, killGaleraNode, withDatabase, withMysqlAt } from "./support/clusters";

const HASH = "$2b$12$galera-test-hash-galera-test-hash-galera-test-hash-galer";
const OPS = countFrom("TSM_LOAD_OPS", 1200);
const USERS = countFrom("TSM_LOAD_USERS", 200);
const HOT = countFrom("TSM_HOT_SIGNINS", 300);
const NODES = GALERA_URLS.length;
const KILLS = countFrom("TSM_GALERA_KILLS", 2);
const SIGNUPS = countFrom("TSM_GALERA_SIGNUPS", 50);
const SIGNUP_ROUNDS = countFrom("TSM_GALERA_SIGNUP_ROUNDS", 5);
const figures: Record<string, unknown> = {};

describeOn("galera", "MariaDB Galera, 3 nodes", () => {
  const db = new GaleraDatabase();
  const ds: DataSource[] = [];
  const stores: Store[] = [];
  const conflicts = conflictCounter();

  /** A one-connection DataSource on `node` whose every read is causal: what the cluster committed. */
  const causal = async (node: number) => {
    const checker = await db.dataSource(node, { entities: [User, Role], poolSize: 1 });
    await checker.query(`SET SESSION wsrep_sync_wait = 1`);
    return checker;
  };

  beforeAll(async () => {
    await db.create();
    // The schema from node 1, while the others are connected.
    for (let node = 0; node < NODES; node++) {
      ds.push(
        await db.dataSource(node, {
          entities: [User, Role],
          poolSize: 10,
          logger: conflicts.logger,
          migrations: [...securityMigrationsV2, appAddDisplayName("user")],
        }),
      );
    }
    await ds[0].runMigrations({ transaction: "all" });
    for (const source of ds) stores.push(new SecurityDatastore(source, User, Role));
  });
  afterAll(async () => {
    await db.drop();
    recordFigures("clusters", "galera", { ...figures, conflictsRetried: conflicts.count() });
  });

  it(`${OPS} operations spread over the ${NODES} nodes with ${HOT} concurrent sign-ins of ONE user: all succeed, nothing lost`, async () => {
    const seed = seedFrom("TSM_LOAD_SEED", "load [galera]");
    const load = await LoadState.create(stores[0], USERS, "spread");
    const hot = await stores[1].createUser({ email: "hot@example.com", password: HASH });
    const hotFailures: unknown[] = [];
    const [seconds] = await Promise.all([
      load.run(OPS, 40, seededRandom(seed), (n) => stores[n % NODES]),
      Promise.all(
        Array.from({ length: HOT }, (_, i) => stores[i % NODES].recordLogin(hot, `10.1.${i % 256}.1`).catch((e) => hotFailures.push(e))),
      ),
    ]);
    expect(load.failures.map(({ error: e }) => `${(e as Error).name}: ${(e as Error).message}`)).toEqual([]);
    expect(hotFailures.map((e) => `${(e as Error).name}: ${(e as Error).message}`)).toEqual([]);
    const counted: number[] = [];
    for (let node = 0; node < NODES; node++) {
      const checker = await causal(node);
      expect(await load.check(checker, stores[node])).toEqual(NOTHING_WRONG);
      counted.push(Number((await checker.query(`SELECT login_count FROM user WHERE id = ?`, [hot.id]))[0].login_count));
    }
    expect(counted).toEqual(Array(NODES).fill(HOT));
    Object.assign(figures, {
      seed,
      loadOperations: OPS,
      loadSeconds: seconds,
      loadFailures: 0,
      hotSignIns: HOT,
      hotCountedOnEachNode: counted,
    });
  });

  it("reads after a revocation and a sign-up's duplicate check are causal on a node that is behind", async () => {
    const victim = await stores[0].createUser({ email: "Mallory@example.com", password: HASH });
    await causal(1).then((c) => c.query(`SELECT 1`)); // node 2 has the user
    const [session, token] = [victim.fsUniquifier, victim.fsTokenUniquifier];
    let checks = 0;
    await withMysqlAt(withDatabase(GALERA_URLS[1], db.name), async (behind) => {
      await behind.query(`FLUSH TABLES WITH READ LOCK`); // node 2 stops applying the others' writes
      try {
        await stores[0].rotateUniquifier(victim);
        await stores[0].deactivateUser(victim);
        // Node 2 really is behind: a plain read there still finds the old identity.
        const [stale] = (await behind.query(`SELECT active FROM user WHERE fs_uniquifier = ?`, [session])) as unknown as [
          Array<{ active: number }>,
        ];
        expect(stale).toEqual([{ active: 1 }]);
        const lookups = Promise.all([
          stores[1].findUserByUniquifier(session),
          stores[1].findUserByTokenUniquifier(token),
          stores[1].findUserByEmail("mallory@example.com"),
          stores[1].createUser({ email: "MALLORY@example.com", password: HASH }).catch((e: unknown) => e),
        ]);
        await new Promise((resolve) => setTimeout(resolve, 300));
        await behind.query(`UNLOCK TABLES`);
        const [bySession, byToken, byEmail, signUp] = await lookups;
        expect(bySession).toBeNull();
        expect(byToken).toBeNull();
        expect(byEmail?.active).toBe(false);
        expect(signUp).toMatchObject({ field: "email", rule: "duplicate" });
        checks += 4;
      } finally {
        await behind.query(`UNLOCK TABLES`);
      }
    });
    figures.causalChecksOnALaggingNode = checks;
  });

  it("concurrent sign-ups of one email (or username) in different letter cases on all nodes: exactly one succeeds", async () => {
    for (let round = 0; round < 5; round++) {
      const emails = await Promise.allSettled(
        ["Zoe", "ZOE", "zoe", "zOe", "zoE", "ZOe"].map((name, i) =>
          stores[i % NODES].createUser({ email: `${name}${round}@example.com`, password: HASH }),
        ),
      );
      expect(emails.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      for (const r of emails) if (r.status === "rejected") expect(r.reason).toMatchObject({ field: "email", rule: "duplicate" });
      const usernames = await Promise.allSettled(
        ["Max", "MAX", "max", "mAx", "maX", "MAx"].map((name, i) =>
          stores[i % NODES].createUser({ email: `max${round}-${i}@example.com`, username: `${name}${round}`, password: HASH }),
        ),
      );
      expect(usernames.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      for (const r of usernames) if (r.status === "rejected") expect(r.reason).toMatchObject({ field: "username", rule: "duplicate" });
    }
    figures.concurrentSignUpRounds = 10;
  });

  it(`${SIGNUPS} concurrent V1 sign-ups of case variants of ONE username (no unique index) over the nodes: exactly one row on every node`, async () => {
    // V1 has no unique index on username: only the datastore's serialisation keeps case variants apart.
    const v1 = new GaleraDatabase();
    await v1.create();
    try {
      const sources = [];
      for (let node = 0; node < NODES; node++) {
        sources.push(
          await v1.dataSource(node, {
            entities: [V1.User, V1.Role],
            poolSize: 10,
            logger: conflicts.logger,
            migrations: securityMigrationsV1,
          }),
        );
      }
      await sources[0].runMigrations({ transaction: "all" });
      const v1Stores = sources.map((source) => new SecurityDatastore(source, V1.User, V1.Role));
      const checkers = [];
      for (let node = 0; node < NODES; node++) {
        const checker = await v1.dataSource(node, { entities: [V1.User, V1.Role], poolSize: 1 });
        await checker.query(`SET SESSION wsrep_sync_wait = 1`);
        checkers.push(checker);
      }
      const random = seededRandom(seedFrom("TSM_SIGNUP_SEED", "v1 usernames [galera]"));
      const conflictsBefore = conflicts.count();
      for (let round = 0; round < SIGNUP_ROUNDS; round++) {
        const name = `Kai${round}`;
        const variants = Array.from({ length: SIGNUPS }, () =>
          [...name].map((c) => (random() < 0.5 ? c.toUpperCase() : c.toLowerCase())).join(""),
        );
        const outcomes = await Promise.allSettled(
          variants.map((username, i) =>
            v1Stores[i % NODES].createUser({ email: `kai${round}-${i}@example.com`, username, password: HASH }),
          ),
        );
        const refused = outcomes.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason);
        expect(
          refused.filter((e) => !(e instanceof DuplicateValueError)).map((e) => `${(e as Error).name}: ${(e as Error).message}`),
        ).toEqual([]);
        for (const e of refused) expect(e).toMatchObject({ field: "username", rule: "duplicate" });
        expect(outcomes.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        const winner = (outcomes.find((r) => r.status === "fulfilled") as PromiseFulfilledResult<V1.User>).value;
        for (const checker of checkers) {
          const rows = await checker.query(`SELECT id, username FROM user WHERE LOWER(username) = ?`, [name.toLowerCase()]);
          expect(rows.map((row: { id: number }) => Number(row.id))).toEqual([winner.id]);
        }
      }
      // The lock rows a sign-up writes to collide with its rivals are gone: no role is left behind.
      expect(Number((await checkers[2].query(`SELECT COUNT(*) AS n FROM role`))[0].n)).toBe(0);
      figures.v1UsernameSignUps = { concurrent: SIGNUPS, rounds: SIGNUP_ROUNDS, conflictsRetried: conflicts.count() - conflictsBefore };
    } finally {
      await v1.drop();
    }
  });

  it("a rival sign-up on another node: the later commit fails certification; a killed one leaves nothing behind", async () => {
    // The rival is a raw connection on node 2 doing what a sign-up does there, stopped before its commit. The
    // names differ by ẞ/ß only, which the unique username index tells apart: only the lock keys can collide.
    const rivals: Array<Awaited<ReturnType<typeof createConnection>>> = [];
    const rival = async (username: string) => {
      const connection = await createConnection({ uri: withDatabase(GALERA_URLS[1], db.name) });
      rivals.push(connection);
      await connection.query(`BEGIN`);
      const value = collisionValue(`user.username:${username.toLowerCase()}`);
      await connection.query(`INSERT INTO role (name) VALUES (?)`, [value]);
      await connection.query(`DELETE FROM role WHERE name = ?`, [value]);
      await connection.query(
        `INSERT INTO user (email, username, password, active, fs_uniquifier, fs_token_uniquifier) VALUES (?, ?, ?, 1, ?, ?)`,
        [`${username}-rival@example.com`, username, HASH, `${username}-rival-uniquifier`, `${username}-rival-token`],
      );
      return connection;
    };
    try {
      // The datastore on node 1 commits first: the rival, which wrote the same key unaware, cannot commit.
      const first = await rival("olgaß");
      const olga = await stores[0].createUser({ email: "olga@example.com", username: "OLGAẞ", password: HASH });
      await expect(first.query(`COMMIT`)).rejects.toMatchObject({ code: "ER_LOCK_DEADLOCK" });
      // A rival killed mid-way (its connection gone): rolled back, no row, no lock left; the next sign-up goes on.
      (await rival("veraß")).destroy(); // on node 2, where the next sign-up runs
      const vera = await stores[1].createUser({ email: "vera@example.com", username: "VERAẞ", password: HASH });
      const checker = await causal(1);
      const rows = await checker.query(`SELECT id FROM user WHERE username LIKE 'olga%' OR username LIKE 'vera%'`);
      expect(rows.map((row: { id: number }) => Number(row.id)).sort()).toEqual([olga.id, vera.id].sort());
      expect(await checker.query(`SELECT name FROM role WHERE name LIKE 'tsm:lock:%'`)).toEqual([]);
    } finally {
      for (const connection of rivals) connection.destroy();
    }
  });

  it("concurrent sign-ups of ẞ and ß variants of one username (the _ci index tells them apart) on all nodes: exactly one succeeds", async () => {
    // utf8mb4_unicode_ci does not fold ẞ (U+1E9E) to ß, so the V2 unique index takes both; lower-cased they are one name.
    const upper = (c: string) => (c === "ß" ? "ẞ" : c.toUpperCase());
    for (let round = 0; round < 3; round++) {
      const name = `straße${round}`;
      // Every other variant has ẞ, the rest ß; the other letters vary too.
      const variants = Array.from({ length: 12 }, (_, i) =>
        [...name].map((c, j) => ((c === "ß" ? i : i >> (j + 1)) & 1 ? upper(c) : c)).join(""),
      );
      const outcomes = await Promise.allSettled(
        variants.map((username, i) =>
          stores[i % NODES].createUser({ email: `strasse${round}-${i}@example.com`, username, password: HASH }),
        ),
      );
      for (const r of outcomes) if (r.status === "rejected") expect(r.reason).toMatchObject({ field: "username", rule: "duplicate" });
      expect(outcomes.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      const checker = await causal(round % NODES);
      const rows: Array<{ username: string }> = await checker.query(`SELECT username FROM user WHERE username LIKE ?`, [`stra%e${round}`]);
      expect(rows.filter((row) => row.username.toLowerCase() === name)).toHaveLength(1);
    }
  });

  it("permission changes on one role from all nodes at once lose nothing (row locks are node-local)", async () => {
    await stores[0].createRole({ name: "shared", permissions: [] });
    const added = Array.from({ length: 60 }, (_, i) => `p${i}`);
    await Promise.all(added.map((p, i) => stores[i % NODES].addPermissionsToRole("shared", [p])));
    const checker = await causal(2);
    const [row] = await checker.query(`SELECT permissions FROM role WHERE name = 'shared'`);
    expect(String(row.permissions).split(",").sort()).toEqual([...added].sort());
  });

  it("the V2 to V3 migration from node 1 while nodes 2 and 3 serve sign-ins; status is OK from every node", async () => {
    const users = await Promise.all(
      Array.from({ length: 30 }, (_, i) => stores[1].createUser({ email: `upgrade${i}@example.com`, password: HASH })),
    );
    let serving = true;
    let served = 0;
    const failures: unknown[] = [];
    const serve = async (node: number) => {
      for (let n = 0; serving; n++) {
        const user = users[n % users.length];
        await stores[node]
          .recordLogin(user, "10.2.0.1")
          .then(() => stores[node].findUserByUniquifier(user.fsUniquifier))
          .then(() => served++)
          .catch((e) => failures.push(e));
      }
    };
    const v3 = await Promise.all(
      GALERA_URLS.map((_, node) =>
        db.dataSource(node, {
          entities: [V3.User, V3.Role, V3.WebAuthn],
          migrations: [...securityMigrationsV3, appAddDisplayName("user")],
        }),
      ),
    );
    const servers = [serve(1), serve(2)];
    try {
      expect((await v3[0].runMigrations({ transaction: "all" })).map((m) => m.name)).toEqual([new securityMigrationsV3[2]().name]);
    } finally {
      serving = false;
      await Promise.all(servers);
    }
    expect(failures.map((e) => `${(e as Error).name}: ${(e as Error).message}`)).toEqual([]);
    for (const source of v3) {
      expect(await securitySchemaStatus(source)).toMatchObject({ family: "ours", version: 3, pendingMigrations: [], drift: [], ok: true });
    }
    Object.assign(figures, { servedDuringMigration: served, failedDuringMigration: failures.length, statusOkOnNodes: v3.length });
  });

  it(`${KILLS} node kills during a load: the others keep serving, nothing acknowledged is lost, the rejoined node serves the same rows`, async () => {
    const seed = seedFrom("TSM_KILL_SEED", "node kill [galera]");
    const random = seededRandom(seed);
    const trials = [];
    for (let trial = 0; trial < KILLS; trial++) {
      const load = await LoadState.create(stores[0], 100, `kill${trial}`);
      const killed = NODES - (trial % (NODES - 1)); // nodes 3, 2, 3, …: never the one the users were created on
      const running = load.run(OPS, 30, random, (n) => stores[n % NODES]); // every third operation goes to each node
      const after = 100 + Math.floor(random() * 500);
      await new Promise((resolve) => setTimeout(resolve, after));
      await killGaleraNode(killed);
      await running;
      const elsewhere = load.failures.filter((f) => f.n % NODES !== killed - 1);
      expect(elsewhere.map(({ error: e }) => `${(e as Error).name}: ${(e as Error).message}`)).toEqual([]);

      await clustersScript("start", "galera-node", String(killed));
      for (let node = 0; node < NODES; node++) {
        const checker = await causal(node);
        expect(await load.check(checker, stores[node])).toEqual(NOTHING_WRONG);
      }
      // The rejoined node takes writes again through the same DataSource.
      await stores[killed - 1].recordLogin(load.users[0], "10.3.0.1");
      trials.push({ killed, afterMs: after, failedOnKilledNode: load.failures.length, failedOnOtherNodes: elsewhere.length });
    }
    Object.assign(figures, { killSeed: seed, killLoadOperations: OPS, killTrials: trials });
  });
});
