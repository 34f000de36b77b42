/**
 * Faults: every shipped migration's up and down, on a database of 10,000 users (roles, links, datetimes,
 * permission lists), run in a child process as an app's deployment runs it (TypeORM's runner, one
 * transaction) and SIGKILLed at a random moment over the step's measured duration. After each kill:
 * - once no server session of the dead process works any more, the schema is exactly the step's "before" or
 *   "after" (fingerprint of every table, column, index, key and recorded migration); on MariaDB, which commits
 *   each DDL statement, it may be in between, and then
 * - running the migrations again completes, and the schema is exactly the uninterrupted run's "after";
 * - every pre-existing value is identical (row checksums of the older version's columns), in every state.
 * Two deterministic stops complete the random ones, where MariaDB's committed DDL makes reruns hard: each up
 * step stopped just before TypeORM records it, and the V1 create stopped after its first table.
 *
 * Seeded: TSM_FAULT_SEED replays a run; TSM_FAULT_TRIALS trials per database (default 24, round-robin over
 * the steps); TSM_FAULT_USERS (default 10,000).
 */
import { spawn } from "child_process";
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { DataSource, type Logger } from "typeorm";
import { securityMigrationsV3 } from "../../migrations";
import * as v1 from "../fixtures/app-v1";
import { fillV1 } from "../fixtures/v1-users";
import { V1_USER_COLUMNS, V2_ADDED_COLUMNS } from "../support/population";
import { databaseOptions, describeEachDatabase } from "../support/database";
import type { DatabaseKind } from "../support/servers";
import { countFrom, recordFigures, seededRandom, seedFrom } from "./support/figures";
import { buildMigrationChild } from "./support/child-build";
import { migrate, trialDataSource, type MigrationOrder } from "./support/migration-child";
import {
  cloneDatabase,
  columnChecksums,
  createEmptyDatabase,
  dropDatabase,
  only,
  schemaFingerprint,
  usersWithoutTokenUniquifier,
  waitForOrphans,
} from "./support/snapshots";

type KeptColumns = Record<string, readonly string[]>;

const USERS = countFrom("TSM_FAULT_USERS", 10_000);
const TRIALS = countFrom("TSM_FAULT_TRIALS", 24);

/** The columns each schema version has, by table: what a step from or to that version must keep. */
const VERSION_COLUMNS: Record<number, KeptColumns> = {
  0: {},
  1: { user: V1_USER_COLUMNS, role: ["id", "name", "description", "permissions", "update_datetime"], roles_users: ["user_id", "role_id"] },
  2: {
    user: [...V1_USER_COLUMNS, ...V2_ADDED_COLUMNS],
    role: ["id", "name", "description", "permissions", "update_datetime"],
    roles_users: ["user_id", "role_id"],
  },
  3: {
    user: [...V1_USER_COLUMNS, ...V2_ADDED_COLUMNS, "fs_webauthn_user_handle", "mf_recovery_codes"],
    role: ["id", "name", "description", "permissions", "update_datetime"],
    roles_users: ["user_id", "role_id"],
  },
};

/** Every shipped migration up to V3, up and down: version `n` is reached by `securityMigrationsV3[n - 1]` (V4 has no trials here yet). */
const STEPS = securityMigrationsV3.flatMap((migration, i) => [
  { label: `${new migration().name} up`, direction: "up" as const, from: i, to: i + 1 },
  { label: `${new migration().name} down`, direction: "down" as const, from: i + 1, to: i },
]);
type Step = (typeof STEPS)[number];

/** How one trial ended. */
type Outcome = "finished before the kill" | "killed: before" | "killed: after" | "killed: in between, rerun completed";

interface Reference {
  ms: number;
}

describeEachDatabase("faults", (db) => {
  const kind: DatabaseKind = db.kind;
  const sqliteDir = kind === "sqlite" ? mkdtempSync(join(tmpdir(), "tsm-faults-")) : "";
  /** Database name (or SQLite file) of trial or snapshot `label`. */
  const nameOf = (label: string) => (kind === "sqlite" ? join(sqliteDir, `${label}.db`) : `${db.name}_${label}`);
  const snapshots = new Map<number, string>();
  const references = new Map<string, Reference>();
  const outcomes: Array<{ step: string; delayMs: number; outcome: Outcome; orphanMs: number }> = [];
  let random: () => number;
  let seed: number;
  let copies = 0;
  /** Where the trials' time goes, in ms, for tuning the suite's speed. */
  const phases: Record<string, number> = {};

  async function open(name: string): Promise<DataSource> {
    return new DataSource(databaseOptions(kind, name, [v1.User, v1.Role])).initialize();
  }

  /** The schema fingerprint, the checksum of every column, and the users without a token uniquifier. */
  async function describeState(name: string) {
    const ds = await open(name);
    try {
      return {
        schema: await schemaFingerprint(ds, kind),
        sums: await columnChecksums(ds),
        badTokens: await usersWithoutTokenUniquifier(ds),
      };
    } finally {
      await ds.destroy();
    }
  }

  /** A fresh copy of the snapshot at `version`. */
  async function copyOf(version: number): Promise<string> {
    const name = nameOf(`t${++copies}`);
    await cloneDatabase(kind, snapshots.get(version)!, name);
    return name;
  }

  /**
   * A migration process that has loaded everything and waits for its order: the next trial's is started as
   * soon as a trial's process is gone, so its start-up (ts-node, TypeORM) overlaps the checks.
   */
  function spawnChild() {
    const child = spawn(process.execPath, [childScript], {
      cwd: join(__dirname, "..", ".."),
      stdio: ["pipe", "pipe", "pipe"],
    });
    const state = { output: "", errors: "" };
    child.stderr.on("data", (chunk) => (state.errors += chunk));
    const ready = new Promise<void>((resolve) =>
      child.stdout.on("data", (chunk) => (state.output += chunk).includes("ready\n") && resolve()),
    );
    return { child, ready, state };
  }
  let spare: ReturnType<typeof spawnChild> | undefined;
  let childScript: string;

  /** Runs `step` on `name` in a child process, killed `delayMs` after it starts (never when Infinity). */
  async function runChild(step: Step, name: string, delayMs: number): Promise<{ finished: boolean; ms: number }> {
    const { child, ready, state } = spare ?? spawnChild();
    spare = undefined;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on("exit", (code, signal) => resolve({ code, signal })),
    );
    await ready;
    let timer: NodeJS.Timeout | undefined;
    const started = new Promise<void>((resolve) => child.stdout.on("data", () => state.output.includes("start\n") && resolve()));
    const order: MigrationOrder = { kind, name, direction: step.direction, from: step.from, to: step.to };
    child.stdin.write(`${JSON.stringify(order)}\n`);
    await Promise.race([started, exited]);
    if (Number.isFinite(delayMs)) timer = setTimeout(() => child.kill("SIGKILL"), delayMs);
    const { code, signal } = await exited;
    clearTimeout(timer);
    spare = spawnChild();
    const done = /done ([\d.]+)\n/.exec(state.output);
    if (signal !== "SIGKILL" && code !== 0) throw new Error(`the migration process failed (${code}): ${state.errors}`);
    return { finished: done !== null, ms: done ? Number(done[1]) : 0 };
  }

  beforeAll(async () => {
    seed = seedFrom("TSM_FAULT_SEED", `faults [${kind}]`);
    random = seededRandom(seed);
    childScript = buildMigrationChild();
    // Snapshot 0: an empty database; 1: V1 with the users; 2 and on: the previous one migrated up.
    for (let version = 0; version <= securityMigrationsV3.length; version++) {
      const name = nameOf(`v${version}`);
      snapshots.set(version, name);
      if (version === 0) {
        await createEmptyDatabase(kind, name);
        continue;
      }
      await cloneDatabase(kind, snapshots.get(version - 1)!, name);
      const ds = trialDataSource({ kind, name, direction: "up", from: version - 1, to: version });
      await ds.initialize();
      await migrate(ds, { direction: "up", from: version - 1, to: version });
      if (version === 1) await fillV1(ds, USERS);
      await ds.destroy();
    }
  });

  afterAll(async () => {
    if (spare) {
      const exited = new Promise((resolve) => spare!.child.on("exit", resolve));
      spare.child.kill("SIGKILL");
      await exited;
    }
    for (const name of snapshots.values()) await dropDatabase(kind, name);
    if (sqliteDir) rmSync(sqliteDir, { recursive: true, force: true });
    const count = (outcome: Outcome) => outcomes.filter((o) => o.outcome === outcome).length;
    recordFigures("faults", kind, {
      seed,
      users: USERS,
      trials: outcomes.length,
      steps: STEPS.map((s) => s.label),
      killedMidMigration: outcomes.length - count("finished before the kill"),
      finishedBeforeKill: count("finished before the kill"),
      killedBefore: count("killed: before"),
      killedAfter: count("killed: after"),
      killedInBetweenRerunCompleted: count("killed: in between, rerun completed"),
      rowsLost: 0, // not counted: every trial compares every row's checksums, and a lost row fails the suite
      measuredMs: Object.fromEntries([...references].map(([label, r]) => [label, Math.round(r.ms)])),
      longestOrphanWaitMs: Math.max(0, ...outcomes.map((o) => o.orphanMs)),
      trialPhasesMs: phases,
    });
  });

  const stepsOf = STEPS.map((step, index) => ({
    ...step,
    trials: Math.floor(TRIALS / STEPS.length) + (index < TRIALS % STEPS.length ? 1 : 0),
  }));

  it.each(stepsOf)("$label: killed at random $trials times, always before, after, or completed by a rerun; no value lost", async (step) => {
    const kept = VERSION_COLUMNS[Math.min(step.from, step.to)];
    // The reference: the step uninterrupted, for its duration and its "after" state.
    const before = await describeState(snapshots.get(step.from)!);
    const beforeKept = only(before.sums, kept);
    const beforeAll = only(before.sums, VERSION_COLUMNS[step.from]);
    const reference = await copyOf(step.from);
    const { ms } = await runChild(step, reference, Infinity);
    const after = await describeState(reference);
    await dropDatabase(kind, reference);
    references.set(step.label, { ms });
    expect(after.schema).not.toBe(before.schema);
    const rowsAfter = step.to === 0 ? {} : beforeKept; // down to nothing drops the tables, by design
    expect(only(after.sums, kept)).toEqual(rowsAfter);
    expect(after.badTokens ?? 0).toBe(0);

    for (let trial = 0; trial < step.trials; trial++) {
      let lap = Date.now();
      const phase = (label: string) => {
        phases[label] = (phases[label] ?? 0) + Date.now() - lap;
        lap = Date.now();
      };
      const name = await copyOf(step.from);
      phase("copy");
      const delayMs = random() * ms * 1.2;
      const { finished } = await runChild(step, name, delayMs);
      phase("child");
      const orphanMs = await waitForOrphans(kind, name);
      phase("orphans");
      const state = await describeState(name);
      phase("state");
      const where = `${step.label}, trial ${trial + 1}, killed ${delayMs.toFixed(1)} ms after start (of ${ms.toFixed(1)})`;
      let outcome: Outcome;
      if (finished) outcome = "finished before the kill";
      else if (state.schema === before.schema) outcome = "killed: before";
      else if (state.schema === after.schema) outcome = "killed: after";
      else outcome = "killed: in between, rerun completed";
      // Transactional DDL (PostgreSQL, SQLite) must never be seen half done.
      if (kind !== "mariadb")
        expect({ where, inBetween: outcome === "killed: in between, rerun completed" }).toEqual({ where, inBetween: false });
      // Every pre-existing value identical: every column when nothing changed; the kept columns when done, and
      // of every table still there when MariaDB stopped in between.
      if (outcome === "killed: before") {
        expect({ where, rows: only(state.sums, VERSION_COLUMNS[step.from]) }).toEqual({ where, rows: beforeAll });
      } else {
        const present = Object.fromEntries(Object.keys(state.sums).map((table) => [table, beforeKept[table]]));
        expect({ where, rows: only(state.sums, kept) }).toEqual({ where, rows: outcome.includes("between") ? present : rowsAfter });
      }

      // Running the migrations again completes and ends exactly where the uninterrupted run ended.
      const ds = trialDataSource({ kind, name, direction: step.direction, from: step.from, to: step.to });
      await ds.initialize();
      await migrate(ds, step);
      await ds.destroy();
      phase("rerun");
      const rerun = await describeState(name);
      phase("state");
      expect({ where, schema: rerun.schema, rows: only(rerun.sums, kept), badTokens: rerun.badTokens }).toEqual({
        where,
        schema: after.schema,
        rows: rowsAfter,
        badTokens: after.badTokens,
      });
      await dropDatabase(kind, name);
      phase("drop");
      outcomes.push({ step: step.label, delayMs, outcome, orphanMs });
    }
  });

  /**
   * Every up step stopped (like a crash) after all its DDL, just before TypeORM records it: the widest window in
   * which MariaDB has committed the schema change and the migrations table does not know it.
   */
  const recordedLast = STEPS.filter((step) => step.direction === "up");
  for (const step of recordedLast) {
    it(`${step.label} stopped before it is recorded, then rerun: completes`, async () => {
      const name = await copyOf(step.from);
      const crashing = new DataSource({
        ...trialDataSource({ kind, name, direction: "up", from: step.from, to: step.to }).options,
        logger: crashingOn((query) => /^INSERT INTO\s+\S*migrations/i.test(query)),
      });
      await crashing.initialize();
      await expect(crashing.runMigrations({ transaction: "all" })).rejects.toThrow("simulated crash");
      await crashing.destroy();
      const ds = trialDataSource({ kind, name, direction: "up", from: step.from, to: step.to });
      await ds.initialize();
      try {
        await migrate(ds, step);
        expect((await ds.query(`SELECT name FROM migrations`)).map((r: { name: string }) => r.name)).toContain(
          new securityMigrationsV3[step.to - 1]().name,
        );
      } finally {
        await ds.destroy();
        await dropDatabase(kind, name);
      }
    });
  }

  /** A logger that throws, like a crash, when a statement matching `when` is about to be sent. */
  function crashingOn(when: (query: string) => boolean): Logger {
    return {
      logQuery: (query) => {
        if (when(query)) throw new Error("simulated crash");
      },
      logQueryError() {},
      logQuerySlow() {},
      logSchemaBuild() {},
      logMigration() {},
      log() {},
    };
  }

  it(
    // MariaDB commits each CREATE TABLE at once: the rerun must adopt the tables the stopped run made.
    "SecurityV1CreateTables1795737600000 up stopped after its first table, then rerun: completes",
    async () => {
      const name = await copyOf(0);
      let tables = 0;
      const crashing = new DataSource(
        databaseOptions(kind, name, [v1.User, v1.Role], {
          migrations: securityMigrationsV3.slice(0, 1),
          logger: crashingOn((query) => /^CREATE TABLE/i.test(query) && !/migrations/.test(query) && ++tables === 2),
        }),
      );
      await crashing.initialize();
      await expect(crashing.runMigrations({ transaction: "all" })).rejects.toThrow("simulated crash");
      await crashing.destroy();
      const ds = trialDataSource({ kind, name, direction: "up", from: 0, to: 1 });
      await ds.initialize();
      try {
        await migrate(ds, { direction: "up", from: 0, to: 1 });
        expect(await ds.query(`SELECT name FROM migrations`)).toEqual([{ name: "SecurityV1CreateTables1795737600000" }]);
      } finally {
        await ds.destroy();
        await dropDatabase(kind, name);
      }
    },
  );
});
