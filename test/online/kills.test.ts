/**
 * The online upgrades SIGKILLed at random moments: each trial copies a database at the version before (users,
 * roles, links), runs the whole online upgrade in a child process as the command line does, kills it at a
 * random moment over the uninterrupted run's duration, and runs the upgrade again in this process, as an
 * operator would, without waiting for the killed run's server sessions (the upgrade waits for its lock).
 * After the kill, every pre-existing value is unchanged; after the rerun, the schema is exactly the
 * uninterrupted run's (which is the offline migration's), every pre-existing value is unchanged (checksums
 * of every column of every table) and every user has a distinct token.
 *
 * Seeded: TSM_ONLINE_KILL_SEED replays a run; TSM_ONLINE_KILLS kills per database (default 10, alternating
 * V1 to V2 and V2 to V3); TSM_ONLINE_KILL_USERS (default 3,000).
 */
import { spawn } from "child_process";
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { DataSource } from "typeorm";
import { upgradeOnline } from "../../src";
import { fillV1 } from "../fixtures/v1-users";
import { databaseOptions, describeEachDatabase } from "../support/database";
import { V1_USER_COLUMNS, V2_ADDED_COLUMNS } from "../support/population";
import { buildMigrationChild } from "../reliability/support/child-build";
import { countFrom, seededRandom } from "../reliability/support/figures";
import {
  cloneDatabase,
  columnChecksums,
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
const ROLE = ["id", "name", "description", "permissions", "update_datetime"];
/** The columns a step from `from` must keep, by table. */
const KEPT: Record<number, Record<string, readonly string[]>> = {
  1: { user: V1_USER_COLUMNS, role: ROLE, roles_users: ["user_id", "role_id"] },
  2: { user: [...V1_USER_COLUMNS, ...V2_ADDED_COLUMNS], role: ROLE, roles_users: ["user_id", "role_id"] },
};
const TOKEN = { 2: "fs_token_uniquifier", 3: "fs_webauthn_user_handle" } as const;

describeEachDatabase("online upgrade killed at random", (db) => {
  const kind = db.kind;
  const sqliteDir = kind === "sqlite" ? mkdtempSync(join(tmpdir(), "tsm-online-kills-")) : "";
  const nameOf = (label: string) => (kind === "sqlite" ? join(sqliteDir, `${label}.db`) : `${db.name}_${label}`);
  const snapshots = new Map<number, string>();
  const references = new Map<number, { ms: number; schema: string }>();
  let childScript: string;
  let random: () => number;
  let seed: number;
  let copies = 0;

  const open = (name: string, version: 1 | 2 | 3) =>
    new DataSource(databaseOptions(kind, name, [...APPS[version]], { migrations: MIGRATIONS[version] })).initialize();

  async function describeState(name: string, version: 1 | 2 | 3, token?: string) {
    const ds = await open(name, version);
    try {
      const [row] = token
        ? await ds.query(`SELECT COUNT(*) AS users, COUNT(DISTINCT ${token}) AS tokens FROM ${ds.driver.escape("user")}`)
        : [{ users: 0, tokens: 0 }];
      return {
        schema: await schemaFingerprint(ds, kind),
        sums: await columnChecksums(ds),
        users: Number(row.users),
        tokens: Number(row.tokens),
      };
    } finally {
      await ds.destroy();
    }
  }

  /** Runs the online upgrade to `to` on `name` in a child process, SIGKILLed `delayMs` after it starts (never when Infinity). */
  async function runChild(name: string, to: 2 | 3, delayMs: number): Promise<{ finished: boolean; ms: number }> {
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
    const order: UpgradeOrder = { kind, name, to, batchMs: BATCH_MS };
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
    // Snapshot 1: V1 with the users; 2: the same upgraded offline. Then the reference run of each step.
    for (const version of [1, 2] as const) {
      const name = nameOf(`v${version}`);
      snapshots.set(version, name);
      if (version === 1) await createEmptyDatabase(kind, name);
      else await cloneDatabase(kind, snapshots.get(1)!, name);
      const ds = await open(name, version);
      await ds.runMigrations({ transaction: "all" });
      if (version === 1) await fillV1(ds, USERS);
      await ds.destroy();
    }
    for (const to of [2, 3] as const) {
      const name = nameOf(`reference${to}`);
      await cloneDatabase(kind, snapshots.get(to - 1)!, name);
      const { ms } = await runChild(name, to, Infinity);
      references.set(to, { ms, schema: (await describeState(name, to)).schema });
      await dropDatabase(kind, name);
    }
  });

  afterAll(async () => {
    for (const name of snapshots.values()) await dropDatabase(kind, name);
    if (sqliteDir) rmSync(sqliteDir, { recursive: true, force: true });
  });

  it(`${TRIALS} random kills, each resumed to completion: every value kept, the schema the uninterrupted run's`, async () => {
    const outcomes: string[] = [];
    let kills = 0;
    // Until TRIALS runs were killed before their end (a run may finish first when the machine is fast).
    for (let trial = 0; kills < TRIALS && trial < TRIALS * 4; trial++) {
      const to = trial % 2 === 0 ? 2 : 3;
      const from = (to - 1) as 1 | 2;
      const before = await describeState(snapshots.get(from)!, from);
      const name = nameOf(`t${++copies}`);
      await cloneDatabase(kind, snapshots.get(from)!, name);
      const reference = references.get(to)!;
      const delayMs = random() * reference.ms * 0.8;
      const where = `seed ${seed} (replay with TSM_ONLINE_KILL_SEED=${seed}), V${from} to V${to}, trial ${trial + 1}, killed ${delayMs.toFixed(0)} ms after start (of ${reference.ms.toFixed(0)})`;
      const { finished } = await runChild(name, to, delayMs);

      const killed = await describeState(name, from);
      expect({ where, rows: only(killed.sums, KEPT[from]) }).toEqual({ where, rows: only(before.sums, KEPT[from]) });

      const ds = upgraderDataSource({ kind, name, to });
      await ds.initialize();
      const plan = await upgradeOnline(ds, { complete: true, batchMs: BATCH_MS });
      await ds.destroy();
      expect({ where, done: plan.done }).toEqual({ where, done: true });
      const after = await describeState(name, to, TOKEN[to]);
      expect({ where, schema: after.schema, rows: only(after.sums, KEPT[from]), tokens: after.tokens }).toEqual({
        where,
        schema: reference.schema,
        rows: only(before.sums, KEPT[from]),
        tokens: after.users,
      });
      await dropDatabase(kind, name);
      if (!finished) kills++;
      outcomes.push(`${where}: ${finished ? "finished before the kill" : "killed"}`);
    }
    expect({ kills, outcomes }).toEqual({ kills: TRIALS, outcomes });
  });
});
