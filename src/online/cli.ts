/**
 * `typeorm-security-models upgrade -d <data source> --online`: the online upgrade from a shell. On a terminal a
 * progress bar (users done of total, rate, time left); otherwise plain lines; `--json` one JSON object per
 * line for machines; `--dry-run` the plan, changing nothing. Exit code 0 when it got as far as asked, 1 when
 * the data blocks it (nothing changed), 2 when it could not run.
 */
import type { DataSource } from "typeorm";
import { MigrationBlockedError } from "../errors";
import { OnlineUpgradeBusyError } from "./session";
import { MAX_WORKERS, planOnlineUpgrade, upgradeOnline } from "./upgrade";
import type { OnlineUpgradeOptions, OnlineUpgradePlan, OnlineUpgradeProgress } from "./upgrade";

/** The command's usage, for `--help` and mistakes. */
export const UPGRADE_USAGE = `  typeorm-security-models upgrade -d <data-source file> --online [--complete] [--dry-run] [--json]
      [--batch-ms <ms>] [--pause-ms <ms>] [--workers <n>] [--lock-timeout-ms <ms>] [--max-replica-lag-ms <ms> | --ignore-replicas]

upgrade --online: moves the database to the version of the data source's User entity while the app keeps
  running. Without --complete it stops where the old and the new app version both work: deploy the new one
  everywhere, then run it again with --complete. Killed or stopped, the same command carries on.`;

/** A mistake on the command line. */
export class UpgradeUsageError extends Error {}

interface UpgradeArgs {
  dataSource: string;
  complete: boolean;
  dryRun: boolean;
  json: boolean;
  options: OnlineUpgradeOptions;
}

function parseUpgradeArgs(argv: string[]): UpgradeArgs {
  const args: UpgradeArgs = { dataSource: "", complete: false, dryRun: false, json: false, options: {} };
  let online = false;
  const number = (flag: string, value: string | undefined) => {
    const n = Number(value);
    if (value === undefined || !Number.isFinite(n) || n < 0) throw new UpgradeUsageError(`${flag} needs a number of milliseconds`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "-d" || arg === "--dataSource") args.dataSource = argv[++i] ?? "";
    else if (arg === "--online") online = true;
    else if (arg === "--complete") args.complete = true;
    else if (arg === "--dry-run") args.dryRun = true;
    else if (arg === "--json") args.json = true;
    else if (arg === "--batch-ms") args.options.batchMs = number(arg, argv[++i]);
    else if (arg === "--pause-ms") args.options.pauseMs = number(arg, argv[++i]);
    else if (arg === "--workers") {
      const value = argv[++i];
      const n = Number(value);
      if (value === undefined || !Number.isInteger(n) || n < 1 || n > MAX_WORKERS)
        throw new UpgradeUsageError(`--workers needs a whole number of connections from 1 to ${MAX_WORKERS}`);
      args.options.workers = n;
    } else if (arg === "--lock-timeout-ms") args.options.lockTimeoutMs = number(arg, argv[++i]);
    else if (arg === "--max-replica-lag-ms") args.options.maxReplicaLagMs = number(arg, argv[++i]);
    else if (arg === "--ignore-replicas") args.options.maxReplicaLagMs = false;
    else throw new UpgradeUsageError(`unknown option "${arg}"`);
  }
  if (!args.dataSource) throw new UpgradeUsageError("-d <data-source file> is required");
  if (!online) {
    throw new UpgradeUsageError("upgrade needs --online; the offline path is TypeORM's own: typeorm migration:run -d <data-source file>");
  }
  return args;
}

const grouped = (n: number) => Math.round(n).toLocaleString("en-US");

function duration(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes} min ${Math.round(seconds % 60)} s` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** The step's short name: the version its migration reaches. */
const stepName = (migration: string) => (/SecurityV(\d)/.exec(migration) ? `V${/SecurityV(\d)/.exec(migration)![1]}` : migration);

/** `[██████░░░░] 60%  600,000/1,000,000 users  52,300/s  8 s left`. */
export function progressLine(progress: OnlineUpgradeProgress, width = 24): string {
  const { rowsDone = 0, rowsTotal = 0 } = progress;
  const share = rowsTotal > 0 ? Math.min(1, rowsDone / rowsTotal) : 1;
  const filled = Math.round(share * width);
  const left = progress.secondsLeft === undefined ? "" : `  ${duration(progress.secondsLeft)} left`;
  return (
    `${stepName(progress.migration)} ${progress.phase} [${"█".repeat(filled)}${"░".repeat(width - filled)}] ${Math.floor(share * 100)}%  ` +
    `${grouped(rowsDone)}/${grouped(rowsTotal)} users  ${grouped(progress.rowsPerSecond ?? 0)}/s${left}`
  );
}

/** Writes progress events for people: a redrawn bar on a terminal, plain lines (at most one per 5 s of backfill) elsewhere. */
function progressWriter(out: NodeJS.WriteStream, tty: boolean): (progress: OnlineUpgradeProgress) => void {
  let started = Date.now();
  let lastLine = 0;
  let barShown = false;
  const endBar = () => {
    if (barShown) out.write("\n");
    barShown = false;
  };
  return (progress) => {
    const label = `${stepName(progress.migration)} ${progress.phase}`;
    if (progress.event === "start") {
      endBar();
      started = Date.now();
      out.write(`${label}: ${progress.message}\n`);
    } else if (progress.event === "progress") {
      const now = Date.now();
      if (tty) {
        if (now - lastLine < 100 && progress.rowsDone !== progress.rowsTotal) return;
        out.write(`\r\x1b[2K${progressLine(progress)}`);
        barShown = true;
      } else {
        if (now - lastLine < 5000 && progress.rowsDone !== progress.rowsTotal) return;
        const share = progress.rowsTotal ? Math.floor((100 * (progress.rowsDone ?? 0)) / progress.rowsTotal) : 100;
        const left = progress.secondsLeft === undefined ? "" : `, ${duration(progress.secondsLeft)} left`;
        out.write(
          `${label}: ${grouped(progress.rowsDone ?? 0)}/${grouped(progress.rowsTotal ?? 0)} users (${share}%), ${grouped(progress.rowsPerSecond ?? 0)}/s${left}\n`,
        );
      }
      lastLine = now;
    } else if (progress.event === "retry" || progress.event === "wait") {
      endBar();
      out.write(`${label}: ${progress.message}\n`);
    } else {
      endBar();
      out.write(`${label}: done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    }
  };
}

/** The plan as text: every phase, done or to do, and what it sends. */
export function describePlan(plan: OnlineUpgradePlan): string {
  if (plan.phases.length === 0) return `Nothing to do: the database is at V${plan.fromVersion}, the version of the entity.`;
  const lines = [`Online upgrade V${plan.fromVersion} to V${plan.toVersion}:`];
  let deployShown = false;
  for (const phase of plan.phases) {
    if (!phase.beforeDeploy && !deployShown) {
      lines.push(`-- here both app versions work: deploy the new one everywhere, then run again with --complete --`);
      deployShown = true;
    }
    const rows = phase.rows === undefined ? "" : ` (${grouped(phase.rows)} users)`;
    lines.push(`[${phase.done ? "done" : "todo"}] ${stepName(phase.migration)} ${phase.phase}: ${phase.description}${rows}`);
    if (!phase.done) for (const statement of phase.statements) lines.push(`         ${statement}`);
  }
  return lines.join("\n");
}

/** What the plan says to do next. */
function nextStep(plan: OnlineUpgradePlan): string {
  if (plan.done) return `Done: the database is at V${plan.toVersion}, recorded as the offline migrations would record it.`;
  if (plan.readyForNewVersion)
    return `Ready: both app versions work now. Deploy the new version everywhere, then run again with --complete.`;
  return `Not finished: run the same command again to carry on.`;
}

/**
 * Runs `upgrade` with the arguments after the command name; `open` loads the DataSource file. Returns the
 * exit code.
 */
export async function runUpgradeCommand(argv: string[], open: (file: string) => DataSource): Promise<number> {
  const args = parseUpgradeArgs(argv);
  const dataSource = open(args.dataSource);
  dataSource.setOptions({ synchronize: false, migrationsRun: false, logging: false });
  await dataSource.initialize();
  const out = process.stdout;
  try {
    if (args.dryRun) {
      const plan = await planOnlineUpgrade(dataSource, args.options);
      out.write(args.json ? `${JSON.stringify({ type: "plan", ...plan })}\n` : `${describePlan(plan)}\n`);
      return 0;
    }
    const write = args.json
      ? (progress: OnlineUpgradeProgress) => out.write(`${JSON.stringify({ type: "progress", ...progress })}\n`)
      : progressWriter(out, out.isTTY === true);
    try {
      const plan = await upgradeOnline(dataSource, { ...args.options, complete: args.complete, onProgress: write });
      out.write(args.json ? `${JSON.stringify({ type: "result", ...plan })}\n` : `${nextStep(plan)}\n`);
      return 0;
    } catch (error) {
      if (!(error instanceof MigrationBlockedError || error instanceof OnlineUpgradeBusyError)) throw error;
      out.write(
        args.json ? `${JSON.stringify({ type: "blocked", rule: error.rule, message: error.message })}\n` : `Blocked: ${error.message}\n`,
      );
      return 1;
    }
  } finally {
    await dataSource.destroy();
  }
}
