/**
 * The consumer test (`npm run test:consumer`): the package as a user gets it. `npm pack` once, and its file
 * list must be the compiled code, the typings, README, LICENSE and CHANGELOG and nothing else; then, for each
 * typeorm major (latest 0.3.x and 1.x), one fresh install in a temporary folder of the tarball with typeorm,
 * better-sqlite3, argon2, reflect-metadata, class-validator and TypeScript; beside it a CommonJS app and an
 * ESM app (`"type": "module"`), each of which:
 *   1. compiles with `tsc --strict`, in one run: every TypeScript block of README.md and docs/ (found in the
 *      pages themselves, so the docs cannot rot; a block after `<!-- fragment -->` is left out), a DataSource
 *      file, the app's own migration and a check script;
 *   2. runs the README's quickstart (the shipped migrations through `DataSource.runMigrations`, then a user
 *      with an argon2 password saved and read), and its SQLite file then holds the tables and the hash;
 *   3. runs the shipped migrations through the TypeORM CLI (`typeorm migration:run -d data-source.js`);
 *   4. runs the check script: every table there, nothing pending, no schema drift, a user saved and read
 *      back with its role through the datastore;
 *   5. runs `typeorm-security-models status -d data-source.js` (the package's own bin) and expects OK.
 * Each step counts as one test. `--json <file>` writes the counts in jest's JSON shape for .ci/run; the exit
 * code is non-zero when any step failed. KEEP_CONSUMER_APPS=1 keeps the temporary folder.
 */
import { execFileSync, spawnSync } from "child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { securityMigrationsV3 } from "../../migrations";
import { docBlocks, DocBlock } from "./doc-blocks";

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
function run(command: string, args: string[], cwd: string, timeoutSeconds = 300, env: Record<string, string> = {}): string {
  const result = spawnSync(command, args, {
    cwd,
    encoding: "utf8",
    timeout: timeoutSeconds * 1000,
    env: { ...process.env, NODE_NO_WARNINGS: "1", ...env },
  });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`.trim();
  if (result.error) throw new StepFailed(`${command} ${args.join(" ")}: ${result.error.message}\n${output}`);
  if (result.status !== 0) throw new StepFailed(`${command} ${args.join(" ")} exited with ${result.status}:\n${output}`);
  return result.stdout;
}

/** The blocks the apps compile: every one of README.md and docs/ but the fragments; the quickstart's file is quickstart.ts. */
function blocksToCompile(): Map<string, DocBlock> {
  const blocks = docBlocks(ROOT).filter((block) => !block.fragment);
  const quickstart = blocks.find((block) => block.page === "README.md" && block.heading === "Quickstart");
  if (!quickstart) throw new Error('README.md: no ```ts block under "## Quickstart"; the consumer test compiles and runs that block');
  const files = new Map<string, DocBlock>();
  for (const block of blocks) {
    const name = block === quickstart ? "quickstart" : `doc_${block.page.replace(/[^A-Za-z0-9]+/g, "_")}_L${block.line}`;
    files.set(`${name}.ts`, block);
  }
  return files;
}

/** tsc's "file.ts(row,col)" of a block's file, said as the page's own line: "docs/models.md:57:3". */
function pointToPages(output: string, files: Map<string, DocBlock>): string {
  return output.replace(/^([\w.-]+\.ts)\((\d+),(\d+)\)/gm, (whole, file: string, row: string, column: string) => {
    const block = files.get(file);
    return block ? `${block.page}:${block.line + Number(row)}:${column}` : whole;
  });
}

/** The tarball holds the compiled code and its typings, README, LICENSE and CHANGELOG, and nothing else. */
function checkTarballFiles(files: string[]): void {
  const always = ["package.json", "README.md", "LICENSE", "CHANGELOG.md"];
  const compiled = /^dist\/(src|migrations)\/.+\.(js|d\.ts)$/;
  const unexpected = files.filter((file) => !always.includes(file) && !compiled.test(file));
  const missing = always.filter((file) => !files.includes(file));
  // Every source file ships as code and typings: a file left out of `files` would break an import at run time.
  for (const folder of ["src", "migrations"]) {
    for (const source of readdirSync(join(ROOT, folder), { recursive: true, encoding: "utf8" })) {
      if (!source.endsWith(".ts")) continue;
      const base = `dist/${folder}/${source.slice(0, -".ts".length)}`;
      missing.push(...[`${base}.js`, `${base}.d.ts`].filter((file) => !files.includes(file)));
    }
  }
  if (unexpected.length > 0 || missing.length > 0)
    throw new StepFailed(`npm pack: unexpected files: ${unexpected.join(", ") || "none"}; missing: ${missing.join(", ") || "none"}`);
}

/** Installs the tarball and the peers once per typeorm major; both apps resolve from this node_modules. */
function installShared(dir: string, tarball: string, typeorm: string): void {
  const sqliteVersion = versionOf(join(ROOT, "node_modules", "better-sqlite3"));
  const argon2Version = versionOf(join(ROOT, "node_modules", "argon2"));
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
      `argon2@${argon2Version}`, // the README's install: the default preset's scheme
      "reflect-metadata",
      "class-validator",
      "typescript@~5.9.3",
      "@types/node@^20",
    ],
    dir,
    600,
  );
  run("bash", [join(ROOT, ".ci", "reuse-sqlite-build"), dir], ROOT, 600);
  reuseArgon2Build(dir);
}

/**
 * argon2's install step tries its prebuilt binary and compiles from source when that one fails to load (on
 * some CPUs it crashes); with --ignore-scripts the prebuilt one would be used as is. The binary this
 * repository's `npm ci` settled on stands in, as for better-sqlite3.
 */
function reuseArgon2Build(dir: string): void {
  const built = join(ROOT, "node_modules", "argon2", "build", "Release", "argon2.node");
  const target = join(dir, "node_modules", "argon2");
  if (!existsSync(built) || versionOf(target) !== versionOf(join(ROOT, "node_modules", "argon2"))) return;
  mkdirSync(join(target, "build", "Release"), { recursive: true });
  cpSync(built, join(target, "build", "Release", "argon2.node"));
}

/**
 * Writes one app (CommonJS or ESM) beside the shared install: the template (entities.ts, data-source.ts, the
 * app's migration, check.ts) and a file per documentation block, which may import the template's files.
 */
function writeApp(dir: string, kind: ModuleKind, blocks: Map<string, DocBlock>): void {
  cpSync(TEMPLATE, dir, { recursive: true });
  // `export {}` keeps a block without imports a module, so the blocks' top-level names never collide.
  for (const [file, block] of blocks) writeFileSync(join(dir, file), `${block.code}\nexport {};\n`);
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

/** The password hashes of an SQLite file's users, read with the app's own better-sqlite3. */
function sqlitePasswords(app: string, file: string): string[] {
  const script = `const db = new (require("better-sqlite3"))(process.argv[1], { readonly: true });
    console.log(JSON.stringify(db.prepare('SELECT password FROM "user"').all().map((row) => row.password)));`;
  return JSON.parse(run("node", ["--input-type=commonjs", "-e", script, file], app)) as string[];
}

/**
 * The steps of one app, in order; each gets the app's folder, the shared install's bin folder and the
 * compiled blocks, and runs only when the steps it `needs` passed (the quickstart and the CLI path are
 * independent of each other).
 */
const STEPS: { id: string; needs: string[]; name: string; run: (app: string, bin: string, blocks: Map<string, DocBlock>) => void }[] = [
  {
    id: "tsc",
    needs: [],
    name: "tsc --strict compiles every TypeScript block of README.md and docs/, the DataSource, the app's migration and the checks",
    run: (app, bin, blocks) => {
      try {
        run(join(bin, "tsc"), ["-p", "."], app);
      } catch (error) {
        throw new StepFailed(pointToPages((error as Error).message, blocks));
      }
    },
  },
  {
    id: "quickstart",
    needs: ["tsc"],
    name: "the quickstart runs the shipped migrations through a DataSource and saves a user with an argon2 password",
    run: (app) => {
      // What a reader does: the salt from the environment, as the quickstart's PasswordHasher reads it.
      const out = run("node", ["quickstart.js"], app, 300, { SECURITY_PASSWORD_SALT: "consumer-test-salt" });
      const files = readdirSync(app).filter((file) => /\.(db|sqlite3?)$/.test(file) && file !== "cli.db");
      if (files.length === 0) throw new StepFailed("the quickstart ran but left no SQLite file (is it still on better-sqlite3?)");
      const tables = sqliteTables(app, files[0]);
      for (const table of ["user", "role", "roles_users"]) {
        if (!tables.includes(table))
          throw new StepFailed(`${files[0]}: table "${table}" missing after the quickstart (tables: ${tables.join(", ")})`);
      }
      const hashes = sqlitePasswords(app, files[0]);
      const argon2 = /^\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/;
      if (hashes.length === 0 || !hashes.every((hash) => argon2.test(hash)))
        throw new StepFailed(
          `${files[0]}: expected the users' passwords as Flask-Security 5.5's argon2 hashes ($argon2id$v=19$m=65536,t=3,p=4$…), found ${hashes.length} other value(s)`,
        );
      if (hashes.some((hash) => out.includes(hash))) throw new StepFailed("the quickstart printed a password hash");
    },
  },
  {
    id: "cli",
    needs: ["tsc"],
    name: "the TypeORM CLI runs the shipped migrations (typeorm migration:run -d data-source.js)",
    run: (app, bin) => {
      const out = run(join(bin, "typeorm"), ["migration:run", "-d", "data-source.js"], app);
      for (const name of [...securityMigrationsV3.map((migration) => migration.name), "AddUserName1800000000000"]) {
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
  const blocks = blocksToCompile();
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

  console.log(`consumer test in ${work}: ${blocks.size} TypeScript block(s) of README.md and docs/ to compile`);
  let tarball = "";
  record("npm pack ships the compiled code and typings, README, LICENSE and CHANGELOG, and nothing else", () => {
    const packed = JSON.parse(
      execFileSync("npm", ["pack", "--json", "--pack-destination", work], {
        cwd: ROOT,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
      }),
    );
    tarball = join(work, packed[0].filename);
    checkTarballFiles((packed[0].files as { path: string }[]).map((file) => file.path));
  });

  for (const [label, typeorm] of Object.entries(TYPEORM_MAJORS)) {
    const shared = join(work, label);
    mkdirSync(shared);
    const installed =
      tarball !== "" && record(`${label}: npm install of the tarball with ${typeorm}`, () => installShared(shared, tarball, typeorm));
    const version = installed ? versionOf(join(shared, "node_modules", "typeorm")) : "?";
    for (const kind of MODULE_KINDS) {
      const app = join(shared, kind);
      if (installed) writeApp(app, kind, blocks);
      const passed = new Set<string>();
      for (const step of STEPS) {
        const name = `typeorm ${version}, ${kind === "cjs" ? "CommonJS" : "ESM"}: ${step.name}`;
        const missing = installed ? step.needs.filter((id) => !passed.has(id)) : ["install"];
        const ok = record(name, () => {
          if (missing.length > 0) throw new StepFailed(`not run: it needs ${missing.join(", ")}, which failed`);
          step.run(app, join(shared, "node_modules", ".bin"), blocks);
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
