/**
 * The consumer test (`npm run test:consumer`): the package as a user gets it. `npm pack` once; then, for each
 * typeorm major (latest 0.3.x and 1.x), one fresh install in a temporary folder of the tarball with typeorm,
 * better-sqlite3, reflect-metadata, class-validator and TypeScript; beside it a CommonJS app and an ESM app
 * (`"type": "module"`), each of which:
 *   1. compiles with `tsc --strict`: README.md's quickstart (taken from the README itself, so the two cannot
 *      diverge), a DataSource file, the app's own migration and a check script;
 *   2. runs the quickstart (the shipped migrations through `DataSource.runMigrations`, then a user saved and
 *      read), and its SQLite file then holds the tables;
 *   3. runs the shipped migrations through the TypeORM CLI (`typeorm migration:run -d data-source.js`);
 *   4. runs the check script: every table there, nothing pending, no schema drift, a user saved and read
 *      back with its role through the datastore;
 *   5. runs `typeorm-security-models status -d data-source.js` (the package's own bin) and expects OK.
 * Each step counts as one test. `--json <file>` writes the counts in jest's JSON shape for .ci/run; the exit
 * code is non-zero when any step failed. KEEP_CONSUMER_APPS=1 keeps the temporary folder.
 */
import { execFileSync, spawnSync } from "child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { securityMigrations } from "../../migrations";

const ROOT = join(__dirname, "..", "..");
const TEMPLATE = join(__dirname, "app");
const TYPEORM_MAJORS = { "typeorm-0.3": "typeorm@^0.3.20", "typeorm-1": "typeorm@^1.0.0" };
const MODULE_KINDS = ["cjs", "esm"] as const;
type ModuleKind = (typeof MODULE_KINDS)[number];

/** Compiler options of a strict app; CommonJS resolves the subpath through `typesVersions`, ESM through `exports`. */
const TSCONFIG: Record<ModuleKind, object> = {
  cjs: { module: "commonjs", moduleResolution: "node10", esModuleInterop: true },
  esm: { module: "nodenext", moduleResolution: "nodenext" },
};

interface StepResult {
  name: string;
  ok: boolean;
  seconds: number;
  detail?: string;
}

class StepFailed extends Error {}

/** Runs a command; throws StepFailed with its output when it exits non-zero. Returns stdout. */
function run(command: string, args: string[], cwd: string, timeoutSeconds = 300): string {
  const result = spawnSync(command, args, {
    cwd,
    encoding: "utf8",
    timeout: timeoutSeconds * 1000,
    env: { ...process.env, NODE_NO_WARNINGS: "1" },
  });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`.trim();
  if (result.error) throw new StepFailed(`${command} ${args.join(" ")}: ${result.error.message}\n${output}`);
  if (result.status !== 0) throw new StepFailed(`${command} ${args.join(" ")} exited with ${result.status}:\n${output}`);
  return result.stdout;
}

/** The first ```ts block under README.md's "## Quickstart" heading. */
function quickstartFromReadme(readme: string): string {
  const section = readme.split(/^## /m).find((part) => part.startsWith("Quickstart"));
  const block = section?.match(/```ts\n([\s\S]*?)```/);
  if (!block) throw new Error('README.md: no ```ts block under "## Quickstart"; the consumer test compiles that block');
  return block[1];
}

/** Installs the tarball and the peers once per typeorm major; both apps resolve from this node_modules. */
function installShared(dir: string, tarball: string, typeorm: string): void {
  const sqliteVersion = versionOf(join(ROOT, "node_modules", "better-sqlite3"));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer-install", private: true }, null, 2));
  // --ignore-scripts, then .ci/reuse-sqlite-build: better-sqlite3's install step would download a prebuilt
  // binary, or compile SQLite for minutes where it cannot; the binary this repository's `npm ci` built stands in.
  run(
    "npm",
    [
      "install",
      "--prefer-offline",
      "--ignore-scripts",
      "--no-audit",
      "--no-fund",
      tarball,
      typeorm,
      `better-sqlite3@${sqliteVersion}`,
      "reflect-metadata",
      "class-validator",
      "typescript@~5.9.3",
      "@types/node@^20",
    ],
    dir,
    600,
  );
  run("bash", [join(ROOT, ".ci", "reuse-sqlite-build"), dir], ROOT, 600);
}

/** Writes one app (CommonJS or ESM) beside the shared install. */
function writeApp(dir: string, kind: ModuleKind, quickstart: string): void {
  cpSync(TEMPLATE, dir, { recursive: true });
  writeFileSync(join(dir, "quickstart.ts"), quickstart);
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: `consumer-${kind}`, private: true, ...(kind === "esm" ? { type: "module" } : {}) }, null, 2),
  );
  const compilerOptions = {
    target: "ES2022",
    strict: true,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    skipLibCheck: false,
    types: ["node"],
    ...TSCONFIG[kind],
  };
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, include: ["*.ts", "migrations/*.ts"] }, null, 2));
}

function versionOf(packageDir: string): string {
  return (JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")) as { version: string }).version;
}

/** The tables of an SQLite file, read with the app's own better-sqlite3. */
function sqliteTables(app: string, file: string): string[] {
  const script = `const db = new (require("better-sqlite3"))(process.argv[1], { readonly: true });
    console.log(JSON.stringify(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((row) => row.name)));`;
  return JSON.parse(run("node", ["--input-type=commonjs", "-e", script, file], app)) as string[];
}

/**
 * The steps of one app, in order; each gets the app's folder and the shared install's bin folder, and runs
 * only when the steps it `needs` passed (the quickstart and the CLI path are independent of each other).
 */
const STEPS: { id: string; needs: string[]; name: string; run: (app: string, bin: string) => void }[] = [
  {
    id: "tsc",
    needs: [],
    name: "tsc --strict compiles the quickstart, the DataSource, the app's migration and the checks",
    run: (app, bin) => void run(join(bin, "tsc"), ["-p", "."], app),
  },
  {
    id: "quickstart",
    needs: ["tsc"],
    name: "the quickstart runs the shipped migrations through a DataSource and saves a user",
    run: (app) => {
      run("node", ["quickstart.js"], app);
      const files = readdirSync(app).filter((file) => /\.(db|sqlite3?)$/.test(file) && file !== "cli.db");
      if (files.length === 0) throw new StepFailed("the quickstart ran but left no SQLite file (is it still on better-sqlite3?)");
      const tables = sqliteTables(app, files[0]);
      for (const table of ["user", "role", "roles_users"]) {
        if (!tables.includes(table))
          throw new StepFailed(`${files[0]}: table "${table}" missing after the quickstart (tables: ${tables.join(", ")})`);
      }
    },
  },
  {
    id: "cli",
    needs: ["tsc"],
    name: "the TypeORM CLI runs the shipped migrations (typeorm migration:run -d data-source.js)",
    run: (app, bin) => {
      const out = run(join(bin, "typeorm"), ["migration:run", "-d", "data-source.js"], app);
      for (const name of [...securityMigrations.map((migration) => migration.name), "AddUserName1800000000000"]) {
        if (!new RegExp(`Migration ${name} has been +executed successfully`).test(out))
          throw new StepFailed(`migration:run did not report ${name}:\n${out}`);
      }
    },
  },
  {
    id: "check",
    needs: ["cli"],
    name: "the migrated database has every table, nothing pending, no drift; the datastore saves and reads a user",
    run: (app) => void run("node", ["check.js"], app),
  },
  {
    id: "status",
    needs: ["cli"],
    name: "typeorm-security-models status -d data-source.js says OK",
    run: (app, bin) => {
      const out = run(join(bin, "typeorm-security-models"), ["status", "-d", "data-source.js"], app);
      if (!/Status: +OK/.test(out)) throw new StepFailed(`status did not say OK:\n${out}`);
    },
  },
];

function main(): void {
  const jsonAt = process.argv.indexOf("--json");
  const jsonFile = jsonAt > 0 ? process.argv[jsonAt + 1] : undefined;
  const quickstart = quickstartFromReadme(readFileSync(join(ROOT, "README.md"), "utf8"));
  const work = mkdtempSync(join(tmpdir(), "tsm-consumer-"));
  const results: StepResult[] = [];
  const started = Date.now();

  const record = (name: string, fn: () => void): boolean => {
    const t0 = Date.now();
    try {
      fn();
      results.push({ name, ok: true, seconds: (Date.now() - t0) / 1000 });
      console.log(`  ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      return true;
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      results.push({ name, ok: false, seconds: (Date.now() - t0) / 1000, detail });
      console.log(`  FAIL ${name}\n${detail.replace(/^/gm, "       ")}`);
      return false;
    }
  };

  console.log(`consumer test in ${work}`);
  let tarball = "";
  record("npm pack", () => {
    const packed = JSON.parse(
      execFileSync("npm", ["pack", "--json", "--pack-destination", work], {
        cwd: ROOT,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
      }),
    );
    tarball = join(work, packed[0].filename);
  });

  for (const [label, typeorm] of Object.entries(TYPEORM_MAJORS)) {
    const shared = join(work, label);
    mkdirSync(shared);
    const installed =
      tarball !== "" && record(`${label}: npm install of the tarball with ${typeorm}`, () => installShared(shared, tarball, typeorm));
    const version = installed ? versionOf(join(shared, "node_modules", "typeorm")) : "?";
    for (const kind of MODULE_KINDS) {
      const app = join(shared, kind);
      if (installed) writeApp(app, kind, quickstart);
      const passed = new Set<string>();
      for (const step of STEPS) {
        const name = `typeorm ${version}, ${kind === "cjs" ? "CommonJS" : "ESM"}: ${step.name}`;
        const missing = installed ? step.needs.filter((id) => !passed.has(id)) : ["install"];
        const ok = record(name, () => {
          if (missing.length > 0) throw new StepFailed(`not run: it needs ${missing.join(", ")}, which failed`);
          step.run(app, join(shared, "node_modules", ".bin"));
        });
        if (ok) passed.add(step.id);
      }
    }
  }

  const failed = results.filter((result) => !result.ok).length;
  const passed = results.length - failed;
  console.log(`consumer test: ${passed} passed, ${failed} failed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  if (jsonFile) {
    const counts = {
      numPassedTests: passed,
      numFailedTests: failed,
      numPendingTests: 0,
      numRuntimeErrorTestSuites: 0,
      numTotalTests: results.length,
      success: failed === 0,
    };
    writeFileSync(jsonFile, JSON.stringify({ ...counts, testResults: results }, null, 2));
  }
  if (failed === 0 && !process.env.KEEP_CONSUMER_APPS) rmSync(work, { recursive: true, force: true });
  else console.log(`apps kept in ${work}`);
  process.exitCode = failed === 0 ? 0 : 1;
}

if (require.main === module) main();
