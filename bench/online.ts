/**
 * `npm run bench:online`: each shipped upgrade (V1 to V2, V2 to V3, V3 to V4) on BENCH_USERS users (default
 * 1,000,000), offline (TypeORM's runner, the shipped migration) and online (`upgradeOnline`), side by side
 * in one run on two databases filled alike, while a load of BENCH_SIGNINS sign-ins/s (default 60) and
 * BENCH_SIGNUPS sign-ups/s (default 6) runs: the old app version until the deploy point (offline: until the
 * migration ends; online: until both versions work), the new one after. The load is open-loop (an operation
 * starts on schedule whether or not the last one ended), so a blocked table shows as the full wait.
 *
 * A sign-in is the lookup by email (exact, served by the unique index on every version: the case-insensitive
 * lookup scans the table at V1/V2 on PostgreSQL, see README) and the login UPDATE; a sign-up inserts a user
 * through `save()` (its tokens from the entity). Reports the upgrade's total time, worst and p99 wait of
 * sign-ins and sign-ups, and draws the sign-in waits over time to docs/online-upgrade-<database>.svg.
 *
 * Before each upgrade, offline or online, the server writes out what earlier work left dirty (`settle`).
 *
 * BENCH_DATABASES (default postgres,mariadb), BENCH_STEPS (default v2,v3,v4; the steps before the last one
 * named run too, unreported, to reach it, each the same way on both databases; BENCH_REACH=offline takes them
 * offline on both, so a step starts from a compact table, not from the one an online step before it left),
 * BENCH_BATCH_MS (default 50), BENCH_WORKERS (the backfill's `workers`, default 2), BENCH_SAMPLES (a folder: every
 * wait as JSON), BENCH_MARIADB_REDO_LOG (bytes; `server` leaves the server's own; by default the size the dry
 * run advises for BENCH_USERS users, `roomierRedoLog`).
 *
 * MariaDB runs with the redo log the dry run and the runbook ("MariaDB: room in the redo log") ask for before
 * an online upgrade of a big table, for both paths alike; the server's own size comes back at the end. On
 * the default 96 MB the backfill goes at the pace of InnoDB's background writes (bench/RESULTS.md).
 */
import "reflect-metadata";
import { mkdirSync, writeFileSync } from "fs";
import { loadavg } from "os";
import { join } from "path";
import { DataSource } from "typeorm";
import { SecurityDatastore, upgradeOnline } from "../src";
import { roomierRedoLog } from "../src/online/redo-log";
import type { RoleMixinV1 } from "../src";
import type { UserBase } from "../src/user/base";
import type { OnlineUpgradeProgress } from "../src";
import { TestDatabase } from "../test/support/database";
import { DatabaseKind, probeServers } from "../test/support/servers";
import { APPS, MIGRATIONS } from "../test/online/support/apps";
import { fill } from "./migrations";

const USERS = Number(process.env.BENCH_USERS ?? 1_000_000);
const KINDS = (process.env.BENCH_DATABASES ?? "postgres,mariadb").split(",") as DatabaseKind[];
const STEPS = (process.env.BENCH_STEPS ?? "v2,v3,v4").split(",").map((s) => Number(s.slice(1)) as Step);
const SIGNINS = Number(process.env.BENCH_SIGNINS ?? 60);
const SIGNUPS = Number(process.env.BENCH_SIGNUPS ?? 6);
const BATCH_MS = Number(process.env.BENCH_BATCH_MS ?? 50);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const MARIADB_REDO_LOG = process.env.BENCH_MARIADB_REDO_LOG;

/** The version each shipped upgrade reaches, in order. */
const ALL_STEPS = [2, 3, 4] as const;
type Step = (typeof ALL_STEPS)[number];
/** The token column whose values must stay distinct after each step (V4 adds a table, no user column). */
const TOKEN: Record<Step, string> = { 2: "fs_token_uniquifier", 3: "fs_webauthn_user_handle", 4: "fs_webauthn_user_handle" };

/** One operation of the load: when it started (s since the upgrade began), how long it waited (ms). */
interface Sample {
  at: number;
  ms: number;
  kind: "sign-in" | "sign-up";
  app: "old" | "new";
  failed?: string;
}

/** An open-loop load on a database: the old app version's DataSource, switched to the new one at the deploy point. */
class Load {
  readonly samples: Sample[] = [];
  private timers: NodeJS.Timeout[] = [];
  private pending = new Set<Promise<void>>();
  private app: "old" | "new" = "old";
  private created = 0;
  private readonly started = process.hrtime.bigint();
  /** The wall clock (ms since 1970) at `at` 0, to line the samples up with other logs (BENCH_SAMPLES). */
  readonly clock = Date.now();

  constructor(
    private readonly apps: Record<"old" | "new", { ds: DataSource; store: SecurityDatastore<UserBase, RoleMixinV1> }>,
    private readonly label: string,
  ) {}

  private since(): number {
    return Number(process.hrtime.bigint() - this.started) / 1e9;
  }

  private track(
    kind: Sample["kind"],
    operation: (app: { ds: DataSource; store: SecurityDatastore<UserBase, RoleMixinV1> }) => Promise<void>,
  ): void {
    const app = this.app;
    const at = this.since();
    const run = operation(this.apps[app]).then(
      () => void this.samples.push({ at, ms: (this.since() - at) * 1000, kind, app }),
      (error: Error) => void this.samples.push({ at, ms: (this.since() - at) * 1000, kind, app, failed: error.message }),
    );
    this.pending.add(run);
    void run.finally(() => this.pending.delete(run));
  }

  start(): void {
    this.timers.push(
      setInterval(() => {
        const email = `user${1 + Math.floor(Math.random() * USERS)}@example.com`;
        this.track("sign-in", async ({ ds, store }) => {
          const user = await ds
            .getRepository(ds.entityMetadatas.find((m) => m.name.includes("User"))!.target)
            .findOne({ where: { email } });
          if (!user) throw new Error(`${email} not found`);
          await store.recordLogin(user as never, "192.0.2.1");
        });
      }, 1000 / SIGNINS),
      setInterval(() => {
        const email = `${this.label}-${this.app}-${++this.created}@example.com`;
        this.track("sign-up", async ({ ds }) => {
          const users = ds.getRepository(ds.entityMetadatas.find((m) => m.name.includes("User"))!.target);
          await users.save(users.create({ email, password: "$2b$12$hash" }));
        });
      }, 1000 / SIGNUPS),
    );
  }

  /** The deploy point: from now on the new app version does the work. */
  deploy(): void {
    this.app = "new";
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    await Promise.all([...this.pending]);
  }

  /** Seconds since the load began, for marks on the time line. */
  now(): number {
    return this.since();
  }
}

const quantile = (xs: number[], q: number) => {
  if (xs.length === 0) return 0;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
};

interface Run {
  path: "offline" | "online";
  seconds: number;
  samples: Sample[];
  /** Phase starts (s since the load began) for the picture. */
  marks: Array<{ at: number; label: string }>;
  start: number;
  end: number;
  /** Users left without a token (offline V3: the old version's sign-ups that waited for the migration). */
  withoutToken: number;
  /** The wall clock (ms since 1970) at `at` 0. */
  clock: number;
}

async function openApp(db: TestDatabase, version: 1 | Step) {
  const ds = await db.dataSource([...APPS[version]], { migrations: MIGRATIONS[version], poolSize: 20 });
  const [User, Role] = APPS[version] as unknown as [abstract new () => UserBase, abstract new () => RoleMixinV1];
  return { ds, store: new SecurityDatastore<UserBase, RoleMixinV1>(ds, User, Role) };
}

/** One upgrade of `db` to `to` under load, offline or online. */
/**
 * Lets the server write out what earlier work left dirty (the fills, the other path's upgrade) before an
 * upgrade is measured, so that neither path pays for the writes of the one before it: PostgreSQL `CHECKPOINT`;
 * MariaDB flushes its buffer pool's dirty pages (its flush target at 0 for a moment, then back) and purges its
 * undo history, waiting at most 60 s.
 */
async function settle(ds: DataSource): Promise<void> {
  if (ds.options.type === "postgres") {
    await ds.query(`CHECKPOINT`);
    return;
  }
  const [{ pct }] = await ds.query(`SELECT @@GLOBAL.innodb_max_dirty_pages_pct AS pct`);
  await ds.query(`SET GLOBAL innodb_max_dirty_pages_pct = 0`);
  try {
    const status = async (name: string) => Number((await ds.query(`SHOW GLOBAL STATUS LIKE '${name}'`))[0].Value);
    // Up to 5 minutes: a buffer pool that holds the whole table keeps 20,000+ pages dirty after a fill, and
    // InnoDB writes them out at 250-550 pages/s on the default innodb_io_capacity (measured).
    const started = Date.now();
    for (;;) {
      if ((await status("Innodb_buffer_pool_pages_dirty")) < 100 && (await status("Innodb_history_list_length")) < 1000) break;
      if (Date.now() - started > 300_000) {
        console.log(`(settle: the server still had ${await status("Innodb_buffer_pool_pages_dirty")} pages dirty after 5 minutes)`);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } finally {
    await ds.query(`SET GLOBAL innodb_max_dirty_pages_pct = ${Number(pct)}`);
  }
}

async function upgradeUnderLoad(db: TestDatabase, to: Step, path: Run["path"]): Promise<Run> {
  const apps = { old: await openApp(db, (to - 1) as 1 | Step), new: await openApp(db, to) };
  const upgrader = await db.dataSource([...APPS[to]], { migrations: MIGRATIONS[to] });
  await settle(upgrader);
  const load = new Load(apps, `${path}${to}`);
  load.start();
  await new Promise((resolve) => setTimeout(resolve, 3000)); // the load alone first
  const marks: Run["marks"] = [];
  const start = load.now();
  let seconds: number;
  if (path === "offline") {
    await upgrader.runMigrations({ transaction: "all" });
    seconds = load.now() - start;
    load.deploy();
  } else {
    const onProgress = (progress: OnlineUpgradeProgress) => {
      if (progress.event === "start") marks.push({ at: load.now(), label: progress.phase });
    };
    await upgradeOnline(upgrader, { batchMs: BATCH_MS, workers: WORKERS, onProgress });
    const ready = load.now();
    load.deploy();
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the deploy; not counted in the upgrade's time
    const completing = load.now();
    await upgradeOnline(upgrader, { complete: true, batchMs: BATCH_MS, workers: WORKERS, onProgress });
    seconds = ready - start + (load.now() - completing);
  }
  const end = load.now();
  await new Promise((resolve) => setTimeout(resolve, 2000)); // and after
  await load.stop();
  const [row] = await upgrader.query(`SELECT COUNT(*) AS n, COUNT(DISTINCT ${TOKEN[to]}) AS tokens FROM ${upgrader.driver.escape("user")}`);
  // Offline, the old version's sign-ups that waited for the migration insert after it: V3 leaves them without a handle.
  const withoutToken = Number(row.n) - Number(row.tokens);
  // V4 gives no token of its own: users an offline V3 step left without a handle (BENCH_REACH=offline) keep it so.
  const ownToken = to === 4 ? process.env.BENCH_REACH !== "offline" : true;
  if (path === "online" && ownToken && withoutToken !== 0) throw new Error(`${path} V${to}: ${row.n} users, ${row.tokens} distinct tokens`);
  const drift = (await upgrader.driver.createSchemaBuilder().log()).upQueries;
  if (drift.length > 0) throw new Error(`${path} V${to}: drift ${drift.map((q) => q.query).join("; ")}`);
  for (const ds of [apps.old.ds, apps.new.ds, upgrader]) await ds.destroy();
  return { path, seconds, samples: load.samples, marks, start, end, withoutToken, clock: load.clock };
}

/** Worst and p99 wait (ms) of one kind of operation while the upgrade ran, and how many failed. */
function waits(run: Run, kind: Sample["kind"]) {
  const during = run.samples.filter((s) => s.kind === kind && s.at >= run.start && s.at <= run.end);
  return {
    count: during.length,
    worst: Math.max(0, ...during.map((s) => s.ms)),
    p99: quantile(
      during.map((s) => s.ms),
      0.99,
    ),
    failed: during.filter((s) => s.failed).length,
    rate: during.length / Math.max(0.001, run.end - run.start),
  };
}

/** Worst / p99 sign-in wait (ms) of the load alone, before the upgrade began: what the machine gives without it. */
function baseline(run: Run): string {
  const before = run.samples.filter((s) => s.kind === "sign-in" && s.at >= 1 && s.at < run.start).map((s) => s.ms);
  return `${Math.max(0, ...before).toFixed(0)} / ${quantile(before, 0.99).toFixed(0)}`;
}

/** Worst / p99 sign-in and sign-up wait (ms) of the operations started in each online phase: where the waits come from. */
function phaseWaits(run: Run): string {
  return run.marks
    .map((mark, i) => {
      const until = run.marks[i + 1]?.at ?? run.end;
      const during = (kind: Sample["kind"]) =>
        run.samples.filter((s) => s.kind === kind && s.at >= mark.at && s.at < until).map((s) => s.ms);
      const [ins, ups] = [during("sign-in"), during("sign-up")];
      return `${mark.label} ${Math.max(0, ...ins).toFixed(0)}/${quantile(ins, 0.99).toFixed(0)} ${Math.max(0, ...ups).toFixed(0)}/${quantile(ups, 0.99).toFixed(0)}`;
    })
    .join(", ");
}

/** How long each online phase took, from the marks: `check 0.1, expand 0.0, …`. */
function phaseTimes(run: Run): string {
  return run.marks.map((mark, i) => `${mark.label} ${((run.marks[i + 1]?.at ?? run.end) - mark.at).toFixed(1)}`).join(", ");
}

/** Sign-in waits over time, offline beside online, one row per step: an SVG. */
function picture(kind: DatabaseKind, rows: Array<{ to: number; offline: Run; online: Run }>): string {
  const panelW = 460;
  const panelH = 200;
  const pad = 50;
  const maxMs = Math.max(
    100,
    ...rows.flatMap((r) => [r.offline, r.online].flatMap((run) => run.samples.filter((s) => s.kind === "sign-in").map((s) => s.ms))),
  );
  const y = (ms: number) => panelH - (Math.log10(Math.max(1, ms)) / Math.log10(maxMs)) * panelH;
  const parts: string[] = [];
  rows.forEach((row, r) => {
    const span = Math.max(row.offline.samples.at(-1)?.at ?? 1, row.online.samples.at(-1)?.at ?? 1);
    ([row.offline, row.online] as Run[]).forEach((run, c) => {
      const ox = pad + c * (panelW + pad);
      const oy = 30 + r * (panelH + 70);
      const x = (at: number) => ox + (at / span) * panelW;
      parts.push(`<g><rect x="${ox}" y="${oy}" width="${panelW}" height="${panelH}" fill="#fafafa" stroke="#999"/>`);
      parts.push(
        `<rect x="${x(run.start)}" y="${oy}" width="${Math.max(1, x(run.end) - x(run.start))}" height="${panelH}" fill="#fde8c8" opacity="0.6"/>`,
      );
      for (const ms of [1, 10, 100, 1000, 10000].filter((v) => v <= maxMs)) {
        parts.push(`<line x1="${ox}" x2="${ox + panelW}" y1="${oy + y(ms)}" y2="${oy + y(ms)}" stroke="#ddd"/>`);
        parts.push(`<text x="${ox - 4}" y="${oy + y(ms) + 4}" font-size="10" text-anchor="end">${ms} ms</text>`);
      }
      for (const mark of run.marks)
        parts.push(
          `<line x1="${x(mark.at)}" x2="${x(mark.at)}" y1="${oy}" y2="${oy + panelH}" stroke="#88a" stroke-dasharray="2,2"/><text x="${x(mark.at) + 2}" y="${oy + 10}" font-size="8" fill="#446">${mark.label}</text>`,
        );
      for (const s of run.samples.filter((sample) => sample.kind === "sign-in")) {
        parts.push(
          `<circle cx="${x(s.at).toFixed(1)}" cy="${(oy + y(s.ms)).toFixed(1)}" r="1.3" fill="${s.failed ? "#c00" : s.app === "old" ? "#36c" : "#2a2"}"/>`,
        );
      }
      const w = waits(run, "sign-in");
      parts.push(
        `<text x="${ox}" y="${oy - 8}" font-size="12">V${row.to - 1} to V${row.to} ${run.path}: ${run.seconds.toFixed(1)} s; sign-in wait worst ${w.worst.toFixed(0)} ms, p99 ${w.p99.toFixed(0)} ms</text>`,
      );
      parts.push(
        `<text x="${ox + panelW / 2}" y="${oy + panelH + 16}" font-size="10" text-anchor="middle">seconds (shaded: the upgrade; blue old app, green new app)</text></g>`,
      );
    });
  });
  const width = 2 * panelW + 3 * pad;
  const height = rows.length * (panelH + 70) + 20;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif"><text x="${pad}" y="16" font-size="13">${kind}, ${USERS.toLocaleString("en")} users: sign-in wait (log scale) during the offline and the online upgrade</text>${parts.join("")}</svg>`;
}

/** The server settings that decide how fast pages and logs go out, said with the results. */
const SETTINGS: Record<DatabaseKind, string[]> = {
  postgres: ["shared_buffers", "max_wal_size", "checkpoint_timeout", "wal_compression"],
  mariadb: ["innodb_buffer_pool_size", "innodb_log_file_size", "innodb_io_capacity", "innodb_io_capacity_max"],
  sqlite: [],
};

/** `work` on a scratch database of `kind`, dropped afterwards: for statements about the server, not a database. */
async function onServer<T>(kind: DatabaseKind, work: (ds: DataSource) => Promise<T>): Promise<T> {
  const db = new TestDatabase(kind);
  await db.create();
  const ds = await db.dataSource([]);
  try {
    return await work(ds);
  } finally {
    await ds.destroy();
    await db.drop();
  }
}

async function serverSettings(kind: DatabaseKind): Promise<string> {
  return onServer(kind, async (ds) => {
    const values: string[] = [];
    for (const name of SETTINGS[kind]) {
      const [row] = await ds.query(kind === "postgres" ? `SELECT current_setting('${name}') AS v` : `SELECT @@${name} AS v`);
      values.push(`${name} ${row.v}`);
    }
    return `${kind}: ${values.join(", ")}`;
  });
}

/**
 * Sets MariaDB's `innodb_log_file_size` to BENCH_MARIADB_REDO_LOG, or to what the dry run advises for
 * BENCH_USERS users (MariaDB 10.9+ resizes it without a restart), and returns what puts the server's own
 * size back.
 */
async function sizeRedoLog(): Promise<() => Promise<void>> {
  if (MARIADB_REDO_LOG === "server") return async () => {};
  const size = await onServer("mariadb", async (ds) => {
    const [{ size }] = await ds.query(`SELECT @@GLOBAL.innodb_log_file_size AS size`);
    const [{ Value: room }] = await ds.query(`SHOW GLOBAL STATUS LIKE 'Innodb_checkpoint_max_age'`);
    const wanted = MARIADB_REDO_LOG ?? roomierRedoLog({ room: Number(room), fileSize: Number(size) }, USERS);
    if (wanted !== null) await ds.query(`SET GLOBAL innodb_log_file_size = ${Number(wanted)}`);
    return Number(size);
  });
  return () => onServer("mariadb", (ds) => ds.query(`SET GLOBAL innodb_log_file_size = ${size}`));
}

async function main(): Promise<void> {
  const down = await probeServers();
  const restoreRedoLog = KINDS.includes("mariadb") && !down.mariadb ? await sizeRedoLog() : async () => {};
  try {
    await measure(down);
  } finally {
    await restoreRedoLog();
  }
}

async function measure(down: Awaited<ReturnType<typeof probeServers>>): Promise<void> {
  console.log(
    `Online upgrade benchmark: ${USERS.toLocaleString("en")} users, ${SIGNINS} sign-ins/s and ${SIGNUPS} sign-ups/s, batches of ${BATCH_MS} ms, ${WORKERS} backfill worker(s)`,
  );
  console.log(
    `Load average before: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(", ")}`,
  );
  for (const kind of KINDS) if (!down[kind]) console.log(`Server settings, ${await serverSettings(kind)}`);
  console.log();
  console.log(
    "| database | step | path | upgrade (s) | online / offline | sign-ins: worst / p99 ms (count, rate) | sign-ups: worst / p99 ms (count, rate) | failed | users without a token | sign-ins before the upgrade: worst / p99 ms | phases (s) | waits per phase: sign-in worst/p99, sign-up worst/p99 ms | load average |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const kind of KINDS) {
    if (down[kind]) {
      console.log(`| ${kind} | skipped: ${down[kind]} |`);
      continue;
    }
    const databases = { offline: new TestDatabase(kind), online: new TestDatabase(kind) };
    const rows: Array<{ to: number; offline: Run; online: Run }> = [];
    try {
      for (const db of Object.values(databases)) {
        await db.create();
        if (kind === "postgres") {
          const admin = await db.dataSource([]);
          await admin.query(`CREATE EXTENSION IF NOT EXISTS pgcrypto`);
          await admin.destroy();
        }
        await fill(db, 1);
      }
      for (const to of ALL_STEPS) {
        if (to > Math.max(...STEPS)) break;
        const offline = await upgradeUnderLoad(databases.offline, to, "offline");
        const reachOffline = !STEPS.includes(to) && process.env.BENCH_REACH === "offline";
        const online = await upgradeUnderLoad(databases.online, to, reachOffline ? "offline" : "online");
        if (!STEPS.includes(to)) continue;
        rows.push({ to, offline, online });
        for (const run of [offline, online]) {
          const signIns = waits(run, "sign-in");
          const signUps = waits(run, "sign-up");
          const ratio = run.path === "online" ? (online.seconds / offline.seconds).toFixed(2) : "";
          console.log(
            `| ${kind} | V${to - 1} to V${to} | ${run.path} | ${run.seconds.toFixed(1)} | ${ratio} | ${signIns.worst.toFixed(0)} / ${signIns.p99.toFixed(0)} (${signIns.count}, ${signIns.rate.toFixed(0)}/s) | ` +
              `${signUps.worst.toFixed(0)} / ${signUps.p99.toFixed(0)} (${signUps.count}, ${signUps.rate.toFixed(1)}/s) | ${signIns.failed + signUps.failed} | ${run.withoutToken} | ${baseline(run)} | ${phaseTimes(run)} | ${phaseWaits(run)} | ${loadavg()[0].toFixed(2)} |`,
          );
        }
      }
      writeFileSync(join(__dirname, "..", "docs", `online-upgrade-${kind}.svg`), picture(kind, rows));
      // BENCH_SAMPLES=<folder>: every operation's wait and the phase marks, for a closer look.
      if (process.env.BENCH_SAMPLES) {
        mkdirSync(process.env.BENCH_SAMPLES, { recursive: true });
        writeFileSync(join(process.env.BENCH_SAMPLES, `online-${kind}.json`), JSON.stringify(rows));
      }
    } finally {
      for (const db of Object.values(databases)) await db.drop();
    }
  }
  console.log(
    `\nLoad average after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(", ")}`,
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
