#!/usr/bin/env node
/**
 * The package's command line: `typeorm-security-models status -d ormconfig.ts` and
 * `typeorm-security-models check -d ormconfig.ts --features confirmable,trackable,twoFactor:email+sms --live`.
 * Readable text by default, `--json` for machines; exit code 0 only when all is well (1: problems found,
 * 2: the command itself could not run).
 */
import { resolve } from "path";
import type { DataSource } from "typeorm";
import { checkSecurityDatabase, checkSecurityModels } from "./checks/check";
import { FEATURE_METHODS, FEATURE_REQUIREMENTS } from "./checks/features";
import type { SecurityFeatures } from "./checks/features";
import { securitySchemaStatus } from "./checks/status";
import { adoptFlaskSecurityDatabase, AdoptionBlockedError, describeAdoptionChange, planFlaskSecurityAdoption } from "./adopt";
import { runUpgradeCommand, UPGRADE_USAGE, UpgradeUsageError } from "./online/cli";

const USAGE = `Usage:
  typeorm-security-models status -d <data-source file> [--json]
  typeorm-security-models check  -d <data-source file> [--features <list>] [--live] [--json]
  typeorm-security-models adopt  -d <data-source file> [--apply] [--json]
${UPGRADE_USAGE}

--features: comma-separated, named after Flask-Security's settings: confirmable, trackable,
  twoFactor[:email+authenticator+sms], unifiedSignin[:password+email+authenticator+sms], tokenIdentity,
  permissions, webauthn, recoveryCodes, refreshToken
--live: also check the tables in the database, not only the entities
adopt: brings a database Flask-Security made under the shipped migrations; without --apply it only
  reports what it would change`;

class UsageError extends Error {}

interface Args {
  command: string;
  dataSource: string;
  features: SecurityFeatures;
  live: boolean;
  json: boolean;
  apply: boolean;
}

/** The feature names the command line takes, in Flask-Security's order. */
const FEATURES = Object.keys(FEATURE_REQUIREMENTS).filter((name) => name !== "core");

/**
 * Parses `--features confirmable,twoFactor:email+sms`. A typo must not pass as "no such feature enabled",
 * which would skip its checks and answer OK: every unknown name or method is a usage error listing the valid ones.
 */
export function parseFeatures(list: string | undefined): SecurityFeatures {
  if (list === undefined || list.startsWith("-") || list.trim() === "")
    throw new UsageError(`--features needs a value: a comma-separated list of ${FEATURES.join(", ")}`);
  const features: Record<string, unknown> = {};
  for (const item of list
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [name, methods, ...extra] = item.split(":");
    if (!FEATURES.includes(name)) throw new UsageError(`--features: unknown feature "${name}"; known: ${FEATURES.join(", ")}`);
    if (methods === undefined) {
      features[name] = true;
      continue;
    }
    const valid: readonly string[] | undefined = FEATURE_METHODS[name as keyof typeof FEATURE_METHODS];
    if (!valid)
      throw new UsageError(
        `--features: ${name} has no methods; write it alone. Only ${Object.keys(FEATURE_METHODS).join(" and ")} take methods (${Object.entries(
          FEATURE_METHODS,
        )
          .map(([feature, names]) => `${feature}:${names.join("+")}`)
          .join(", ")})`,
      );
    const wanted = methods.split("+").map((m) => m.trim());
    const unknown = wanted.filter((m) => !valid.includes(m));
    if (extra.length > 0 || unknown.length > 0 || wanted.length === 0)
      throw new UsageError(
        `--features: ${name} has no method ${unknown.length ? unknown.map((m) => `"${m}"`).join(", ") : `"${methods}"`}; its methods are ${valid.join(", ")} (joined with +, e.g. ${name}:${valid.slice(0, 2).join("+")})`,
      );
    features[name] = { methods: wanted };
  }
  return features;
}

function parseArgs(argv: string[]): Args {
  const [command, ...rest] = argv;
  if (command !== "status" && command !== "check" && command !== "adopt")
    throw new UsageError(command ? `unknown command "${command}"` : "no command given");
  const args: Args = { command, dataSource: "", features: {}, live: false, json: false, apply: false };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === "-d" || arg === "--dataSource") args.dataSource = rest[++i] ?? "";
    else if (arg === "--features") args.features = parseFeatures(rest[++i]);
    else if (arg === "--live") args.live = true;
    else if (arg === "--json") args.json = true;
    else if (arg === "--apply" && command === "adopt") args.apply = true;
    else throw new UsageError(`unknown option "${arg}"`);
  }
  if (!args.dataSource) throw new UsageError("-d <data-source file> is required");
  return args;
}

/**
 * Loads the DataSource a file exports (default, named, or the module itself: `module.exports = dataSource`,
 * which TypeORM's own CLI accepts), compiling TypeScript with ts-node when needed.
 */
function loadDataSource(file: string): DataSource {
  const path = resolve(file);
  if (/\.[cm]?ts$/.test(path) && !(process as unknown as Record<symbol, unknown>)[Symbol.for("ts-node.register.instance")]) {
    try {
      require("ts-node/register");
    } catch {
      throw new UsageError(`${file} is TypeScript: install ts-node, or point -d at the compiled .js file`);
    }
  }
  const exported = require(path);
  const candidates = [exported, exported.default, ...Object.values(exported)];
  const dataSource = candidates.find((value) => value && typeof value.initialize === "function" && typeof value.options === "object");
  if (!dataSource) throw new UsageError(`${file} exports no DataSource (export default new DataSource({ ... }))`);
  return dataSource as DataSource;
}

/** `adopt`: the plan, and with --apply the adoption itself; exit 1 when something blocks it. */
async function adopt(dataSource: DataSource, args: Args): Promise<number> {
  let plan = await planFlaskSecurityAdoption(dataSource);
  let applied = false;
  if (args.apply && plan.action !== "blocked" && plan.action !== "done") {
    try {
      plan = await adoptFlaskSecurityDatabase(dataSource);
      applied = true;
    } catch (error) {
      if (!(error instanceof AdoptionBlockedError)) throw error;
      plan = { ...plan, action: "blocked", blockers: error.problems };
    }
  }
  if (args.json) {
    console.log(JSON.stringify({ ...plan, applied }, null, 2));
  } else {
    const list = (items: string[]) => items.map((item) => `- ${item}`).join("\n");
    console.log(`Found:     ${plan.found}`);
    if (plan.toVersion !== null) console.log(`Becomes:   typeorm-security-models V${plan.toVersion}`);
    if (plan.blockers.length > 0) console.log(`Blocked, nothing was changed:\n${list(plan.blockers)}`);
    else if (plan.action === "done") console.log("Nothing to do: the database is already typeorm-security-models'.");
    else
      console.log(
        `${applied ? "Done:" : "Would change (nothing changed yet; run again with --apply):"}\n${list(plan.changes.map(describeAdoptionChange))}`,
      );
    if (plan.afterwards.length > 0 && plan.blockers.length === 0) console.log(`Afterwards:\n${list(plan.afterwards)}`);
  }
  return plan.action === "blocked" ? 1 : 0;
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === "upgrade") return runUpgradeCommand(argv.slice(1), loadDataSource);
  const args = parseArgs(argv);
  const dataSource = loadDataSource(args.dataSource);
  // Look, never change: no synchronize, no migrations on initialize, no query logging.
  dataSource.setOptions({ synchronize: false, migrationsRun: false, logging: false });
  await dataSource.initialize();
  try {
    if (args.command === "status") {
      const status = await securitySchemaStatus(dataSource);
      if (args.json) console.log(JSON.stringify(status, null, 2));
      else {
        console.log(`Schema:     ${status.label}`);
        console.log(
          `Migrations: ${status.appliedMigrations.length} applied, ${status.pendingMigrations.length} pending${status.pendingMigrations.length ? ` (${status.pendingMigrations.join(", ")})` : ""}`,
        );
        console.log(
          `Drift:      ${status.drift.length === 0 ? "none" : `${status.drift.length} change(s) wanted by TypeORM's schema builder:\n${status.drift.map((q) => `  ${q}`).join("\n")}`}`,
        );
        console.log(`Status:     ${status.ok ? "OK" : "NOT OK"}`);
      }
      return status.ok ? 0 : 1;
    }
    if (args.command === "adopt") return await adopt(dataSource, args);
    const problems = [
      ...(await checkSecurityModels(dataSource, args.features)),
      ...(args.live ? await checkSecurityDatabase(dataSource, args.features) : []),
    ];
    if (args.json) console.log(JSON.stringify({ ok: problems.length === 0, problems }, null, 2));
    else if (problems.length === 0)
      console.log(`OK: the ${args.live ? "entities and the database have" : "entities have"} every column these features need.`);
    else console.log(`${problems.length} problem(s):\n${problems.map((p) => `- ${p.message}`).join("\n")}`);
    return problems.length === 0 ? 0 : 1;
  } finally {
    await dataSource.destroy();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error) => {
      console.error(
        error instanceof UsageError || error instanceof UpgradeUsageError
          ? `${error.message}\n\n${USAGE}`
          : error instanceof Error
            ? error.message
            : error,
      );
      process.exit(2);
    },
  );
}
