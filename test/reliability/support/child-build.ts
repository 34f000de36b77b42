/**
 * The killed migration process, compiled once per test file: each trial starts a fresh process, and loading
 * TypeScript in every one of them (ts-node) costs about two seconds of CPU per trial. The sources are
 * transpiled file by file (as ts-node's transpile-only mode does) into `.reliability/child/` inside the
 * repository, so the compiled files still find `node_modules`.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "fs";
import { dirname, join, relative } from "path";
import * as ts from "typescript";

const ROOT = join(__dirname, "..", "..", "..");
/** Everything the child imports, directly or not. */
const SOURCES = ["src", "migrations", "bench", "test/fixtures", "test/support", "test/reliability/support", "test/online/support"];

function typescriptFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return typescriptFiles(path);
    return path.endsWith(".ts") && !path.endsWith(".d.ts") ? [path] : [];
  });
}

let built: string | undefined;

/**
 * Compiles the child and what it imports (once per process); returns the path of the JavaScript of `entry`
 * (a child script, relative to the repository, without `.ts`).
 */
export function buildMigrationChild(entry = "test/reliability/support/migration-child"): string {
  if (built) return join(ROOT, ".reliability", "child", `${entry}.js`);
  const out = join(ROOT, ".reliability", "child");
  const { config } = ts.readConfigFile(join(ROOT, "tsconfig.json"), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, ROOT);
  const compilerOptions = { ...options, sourceMap: false, declaration: false };
  for (const file of SOURCES.flatMap((dir) => typescriptFiles(join(ROOT, dir)))) {
    const { outputText } = ts.transpileModule(readFileSync(file, "utf8"), { compilerOptions, fileName: file });
    const target = join(out, relative(ROOT, file)).replace(/\.ts$/, ".js");
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, outputText);
  }
  built = out;
  return join(out, `${entry}.js`);
}
