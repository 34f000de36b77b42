/**
 * The online upgrades SIGKILLed at random moments: each trial copies a database at the version before (users,
 * roles, links; at V3 also WebAuthn credentials and recovery codes), runs the whole online upgrade in a child
 * process as the command line does, kills it at a random moment over the uninterrupted run's duration, and
 * runs the upgrade again in this process, as an operator would, without waiting for the killed run's server
 * sessions (the upgrade waits for its lock). The first trial is V1 to V4 in one command (the V4 app's
 * upgrade on a V1 database: every step in one run), repeated until one run of it was killed; then the steps
 * in turn: V1 to V2, V2 to V3, V3 to V4 (which only creates `fs_refresh_tracker`, then records the migration).
 * After the kill, every pre-existing value is unchanged; after the rerun, the schema is exactly the
 * uninterrupted run's (which is the offline migration's, test/online/upgrade.test.ts), every pre-existing
 * value is unchanged (checksums of every column of every table, WebAuthn credentials included), every user
 * has a distinct token (at V4 both `fs_token_uniquifier` and `fs_webauthn_user_handle`), and at V4
 * `fs_refresh_tracker` takes a tracker of an existing user and refuses one of a missing user (its foreign key
 * is there).
 *
 * The killed run backfills with 1, 2 or 3 workers in turn, and the rerun with another number of them.
 *
 * Seeded: TSM_ONLINE_KILL_SEED replays a run; TSM_ONLINE_KILLS kills per database (default 10, the V1 to V4
 * one included); TSM_ONLINE_KILL_USERS users in each snapshot (default 3,000).
 */
import { spawn } from "child_process";
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { DataSource } from "typeorm";
import { upgradeOnline } from "../../src";
import type { WebAuthnUsage } from "../../src";
import { fillV1 } from "../fixtures/v1-users";
import { databaseOptions, describeEachDatabase } from "../support/database";
import { V1_USER_COLUMNS, V2_ADDED_COLUMNS } from "../support/population";
import { buildMigrationChild } from "../reliability/support/child-build";
import { countFrom, seededRandom } from "../reliability/support/figures";
import {
  cloneDatabase,
  columnChecksums,
  type ColumnChecksums,
  createEmptyDatabase,
  dropDatabase,
  only,
  schemaFingerprint,
} from "../reliability/support/snapshots";
import { APPS, MIGRATIONS } from "./support/apps";
import { upgraderDataSource, type UpgradeOrder } from "./support/upgrade-child";

const USERS = countFrom("TSM_ONLINE_KILL_USERS", 3_000);
const TRIALS = countFrom("TSM_ONLINE_KILLS", 10);
const BATCH_MS = 5;
type Version = keyof typeof APPS;
/** One kind of trial: the online upgrade from the snapshot at `from` to `to`. */
type Step = { from: 1 | 2 | 3; to: 2 | 3 | 4 };
/** The steps the trials take in turn. */
const STEPS: readonly Step[] = [
  { from: 1, to: 2 },
  { from: 2, to: 3 },
  { from: 3, to: 4 },
];
/** V1 to V4 in one command. */
const WHOLE: Step = { from: 1, to: 4 };
const label = (step: Step) => `V${step.from} to V${step.to}`;

const ROLE = ["id", "name", "description", "permissions", "update_datetime"];
const WEB_AUTHN = [
  "id",
  "credential_id",
  "public_key",
  "sign_count",
  "transports",
  "backup_state",
  "device_type",
  "extensions",
  "create_datetime",
  "lastuse_datetime",
  "name",
  "usage",
  "user_id",
];
/** The columns a step from `from` must keep, by table: every column of every table at that version. */
const KEPT: Record<Step["from"], Record<string, readonly string[]>> = {
  1: { user: V1_USER_COLUMNS, role: ROLE, roles_users: ["user_id", "role_id"] },
  2: { user: [...V1_USER_COLUMNS, ...V2_ADDED_COLUMNS], role: ROLE, roles_users: ["user_id", "role_id"] },
  3: {
    user: [...V1_USER_COLUMNS, ...V2_ADDED_COLUMNS, "fs_webauthn_user_handle", "mf_recovery_codes"],
    role: ROLE,
    roles_users: ["user_id", "role_id"],
    web_authn: WEB_AUTHN,
  },
};
/** The tokens every user must hold, each distinct, after an upgrade to each version. */
const TOKENS: Record<Step["to"], readonly string[]> = {
  2: ["fs_token_uniquifier"],
  3: ["fs_webauthn_user_handle"],
  4: ["fs_token_uniquifier", "fs_webauthn_user_handle"],
};
/** One user in every CREDENTIAL_OWNER_EVERY (by id) has a WebAuthn credential or two in the V3 snapshot. */
const CREDENTIAL_OWNER_EVERY = 250;

/** A database's state as the trials compare it. */
interface State {
  /** schemaFingerprint's text. */
  schema: string;
  /** The checksums of every column of every table. */
  sums: ColumnChecksums;
  users: number;
  /** By token column, how many distinct values the users hold. */
  tokens: Record<string, number>;
}

/** Gives a few users of the V3 snapshot one or two WebAuthn credentials (every column set) and recovery codes. */
async function addCredentials(ds: DataSource): Promise<number> {
  const q = (name: string) => ds.driver.escape(name);
  const owners: Array<{ id: number }> = await ds.query(`SELECT id FROM ${q("user")} WHERE id % ${CREDENTIAL_OWNER_EVERY} = 1 ORDER BY id`);
  const credentials = owners.flatMap(({ id }, k) =>
    Array.from({ length: 1 + (k % 2) }, (_, n) => ({
      credentialId: Buffer.from(`credential-${id}-${n}`),
      publicKey: Buffer.from(`public-key-${id}-${n}`.repeat(4)),
      signCount: id + n,
      transports: n ? ["internal", "hybrid"] : ["usb"],
      backupState: n === 1,
      deviceType: n ? "multi_device" : "single_device",
      extensions: n ? null : `{"credProps":{"rk":true}}`,
      name: `key ${n}`,
      usage: (n ? "first" : "secondary") as WebAuthnUsage, // eslint-disable-line @typescript-eslint/no-unnecessary-type-assertion -- keeps the literal type in the object (the rule misses the widening)
      lastuseDatetime: new Date(Date.UTC(2024, 0, 1) + id * 1000 + n),
      userId: id,
    })),
  );
  await ds.createQueryBuilder().insert().into(APPS[3][2]).values(credentials).execute();
  await ds.query(
    `UPDATE ${q("user")} SET mf_recovery_codes = 'aaaa-bbbb-cccc,dddd-eeee-ffff' WHERE id IN (${owners.map(({ id }) => id).join(", ")})`,
  );
  return credentials.length;
}

/** What `refreshTrackerForeignKey` finds when the table and its foreign key are there. */
const REFRESH_TRACKER_FOREIGN_KEY = { existingUser: "accepted", missingUser: "refused by the foreign key", trackers: 1 };

/**
 * Inserts, through the V4 app's repository on `ds`, a refresh tracker of the first user and one of a user id
 * no one has, and says what became of each: the first must be kept, the second refused by the foreign key.
 */
async function refreshTrackerForeignKey(ds: DataSource) {
  const trackers = ds.getRepository(APPS[4][3]);
  const [ids] = await ds.query(`SELECT MIN(id) AS first_id, MAX(id) AS last_id FROM ${ds.driver.escape("user")}`);
  const insert = (family: string, userId: number) =>
    trackers
      .insert(trackers.create({ refreshFamily: family, name: "kill trial", expiresAt: new Date(), lastUsedAt: new Date(), userId }))
      .then(
        () => "accepted",
        (error: Error) => (/foreign key/i.test(error.message) ? "refused by the foreign key" : `refused: ${error.message}`),
      );
  return {
    existingUser: await insert("f".repeat(64), Number(ids.first_id)),
    missingUser: await insert("e".repeat(64), Number(ids.last_id) + 1000),
    trackers: await trackers.count(),
  };
}

describeEachDatabase("online upgrade killed at random", (db) => {
  const kind = db.kind;
  const sqliteDir = kind === "sqlite" ? mkdtempSync(join(tmpdir(), "tsm-online-kills-")) : "";
  const nameOf = (name: string) => (kind === "sqlite" ? join(sqliteDir, `${name}.db`) : `${db.name}_${name}`);
  const snapshots = new Map<number, string>();
  /** Each snapshot's state, taken once: the snapshots are only ever copied. */
  const snapshotStates = new Map<number, State>();
  const references = new Map<string, { ms: number; schema: string }>();
  let childScript: string;
  let random: () => number;
  let seed: number;
  let copies = 0;
  let credentials = 0;

  const open = (name: string, version: Version) =>
    new DataSource(databaseOptions(kind, name, [...APPS[version]], { migrations: MIGRATIONS[version] })).initialize();

  /** The schema, the checksums of every column and, for each of `tokens`, how many distinct values the users hold. */
  async function describeStateOf(ds: DataSource, tokens: readonly string[]): Promise<State> {
    const q = (name: string) => ds.driver.escape(name);
    const [row] = await ds.query(
      `SELECT ${["COUNT(*) AS users", ...tokens.map((token, i) => `COUNT(DISTINCT ${q(token)}) AS t${i}`)].join(", ")} FROM ${q("user")}`,
    );
    return {
      schema: await schemaFingerprint(ds, kind),
      sums: await columnChecksums(ds),
      users: Number(row.users),
      tokens: Object.fromEntries(tokens.map((token, i) => [token, Number(row[`t${i}`])])),
    };
  }

  async function describeState(name: string, version: Version, tokens: readonly string[] = []): Promise<State> {
    const ds = await open(name, version);
    try {
      return await describeStateOf(ds, tokens);
    } finally {
      await ds.destroy();
    }
  }

  /** Runs the online upgrade to `to` on `name` in a child process, SIGKILLed `delayMs` after it starts (never when Infinity). */
  async function runChild(name: string, to: Step["to"], delayMs: number, workers = 1): Promise<{ finished: boolean; ms: number }> {
    const child = spawn(process.execPath, [childScript], { cwd: join(__dirname, "..", ".."), stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    let errors = "";
    child.stderr.on("data", (chunk) => (errors += chunk));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on("exit", (code, signal) => resolve({ code, signal })),
    );
    const ready = new Promise<void>((resolve) => child.stdout.on("data", (chunk) => (output += chunk).includes("ready\n") && resolve()));
    await ready;
    const started = new Promise<void>((resolve) => child.stdout.on("data", () => output.includes("start\n") && resolve()));
    const order: UpgradeOrder = { kind, name, to, batchMs: BATCH_MS, workers };
    child.stdin.write(`${JSON.stringify(order)}\n`);
    await Promise.race([started, exited]);
    const timer = Number.isFinite(delayMs) ? setTimeout(() => child.kill("SIGKILL"), delayMs) : undefined;
    const { code, signal } = await exited;
    clearTimeout(timer);
    const done = /done ([\d.]+)\n/.exec(output);
    if (signal !== "SIGKILL" && code !== 0) throw new Error(`the upgrade process failed (${code}): ${errors}`);
    return { finished: done !== null, ms: done ? Number(done[1]) : 0 };
  }

  beforeAll(async () => {
    // The seed goes into every assertion's label rather than the output, so a passing `npm test` prints nothing
    // and a failing one says how to replay it.
    seed = Number(process.env.TSM_ONLINE_KILL_SEED) || Math.floor(Math.random() * 2 ** 31);
    random = seededRandom(seed);
    childScript = buildMigrationChild("test/online/support/upgrade-child");
    // Snapshot 1: V1 with the users; 2: the same upgraded offline; 3: snapshot 2 upgraded offline, then a few
    // WebAuthn credentials. Then the reference run of each kind of trial.
    for (const version of [1, 2, 3] as const) {
      const name = nameOf(`v${version}`);
      snapshots.set(version, name);
      if (version === 1) await createEmptyDatabase(kind, name);
      else await cloneDatabase(kind, snapshots.get(version - 1)!, name);
      const ds = await open(name, version);
      await ds.runMigrations({ transaction: "all" });
      if (version === 1) await fillV1(ds, USERS);
      if (version === 3) credentials = await addCredentials(ds);
      snapshotStates.set(version, await describeStateOf(ds, []));
      await ds.destroy();
    }
    for (const step of [...STEPS, WHOLE]) {
      const name = nameOf(`reference${step.from}${step.to}`);
      await cloneDatabase(kind, snapshots.get(step.from)!, name);
      const { ms } = await runChild(name, step.to, Infinity);
      references.set(label(step), { ms, schema: (await describeState(name, step.to)).schema });
      await dropDatabase(kind, name);
    }
  });

  afterAll(async () => {
    for (const name of snapshots.values()) await dropDatabase(kind, name);
    if (sqliteDir) rmSync(sqliteDir, { recursive: true, force: true });
  });

  it("the snapshots hold what the trials check: users, and at V3 WebAuthn credentials; both runs to V4 end in one schema", () => {
    const { sums } = snapshotStates.get(3)!;
    expect({ users: sums.user["(rows)"], credentials: sums.web_authn?.["(rows)"] }).toEqual({
      users: String(USERS),
      credentials: String(credentials),
    });
    expect(credentials).toBeGreaterThan(0);
    expect(references.get(label(WHOLE))!.schema).toBe(references.get(label(STEPS[2]))!.schema);
  });

  it(`${TRIALS} random kills, each resumed to completion: every value kept, the schema the uninterrupted run's`, async () => {
    const outcomes: string[] = [];
    const killedBy: Record<string, number> = {};
    let kills = 0;
    let rotation = 0;
    // Until TRIALS runs were killed before their end, one of them V1 to V4 (a run may finish first when the
    // machine is fast).
    for (let trial = 0; (kills < TRIALS || !killedBy[label(WHOLE)]) && trial < TRIALS * 4; trial++) {
      const step = killedBy[label(WHOLE)] ? STEPS[rotation++ % STEPS.length] : WHOLE;
      const { from, to } = step;
      const before = snapshotStates.get(from)!;
      const name = nameOf(`t${++copies}`);
      await cloneDatabase(kind, snapshots.get(from)!, name);
      const reference = references.get(label(step))!;
      const delayMs = random() * reference.ms * 0.8;
      // The killed run and the rerun backfill with different numbers of workers: the rerun's slices are not the killed run's.
      const [workers, rerunWorkers] = [
        [1, 2],
        [2, 3],
        [3, 1],
      ][trial % 3];
      const where = `seed ${seed} (replay with TSM_ONLINE_KILL_SEED=${seed}), ${label(step)}, trial ${trial + 1}, ${workers} worker(s), killed ${delayMs.toFixed(0)} ms after start (of ${reference.ms.toFixed(0)}), rerun with ${rerunWorkers}`;
      const { finished } = await runChild(name, to, delayMs, workers);

      const killed = await describeState(name, from);
      expect({ where, rows: only(killed.sums, KEPT[from]) }).toEqual({ where, rows: only(before.sums, KEPT[from]) });

      const ds = upgraderDataSource({ kind, name, to });
      await ds.initialize();
      try {
        const plan = await upgradeOnline(ds, { complete: true, batchMs: BATCH_MS, workers: rerunWorkers });
        expect({ where, done: plan.done }).toEqual({ where, done: true });
        const after = await describeStateOf(ds, TOKENS[to]);
        expect({ where, schema: after.schema, rows: only(after.sums, KEPT[from]), tokens: after.tokens }).toEqual({
          where,
          schema: reference.schema,
          rows: only(before.sums, KEPT[from]),
          tokens: Object.fromEntries(TOKENS[to].map((token) => [token, after.users])),
        });
        if (to === 4) expect({ where, ...(await refreshTrackerForeignKey(ds)) }).toEqual({ where, ...REFRESH_TRACKER_FOREIGN_KEY });
      } finally {
        await ds.destroy();
      }
      await dropDatabase(kind, name);
      if (!finished) {
        kills++;
        killedBy[label(step)] = (killedBy[label(step)] ?? 0) + 1;
      }
      outcomes.push(`${where}: ${finished ? "finished before the kill" : "killed"}`);
    }
    expect({ kills, wholeKilled: Boolean(killedBy[label(WHOLE)]), outcomes }).toEqual({ kills: TRIALS, wholeKilled: true, outcomes });
  });
});
