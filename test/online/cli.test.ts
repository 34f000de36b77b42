/**
 * `typeorm-security-models upgrade -d <file> --online` as a user runs it: the dry run (text and JSON) changes
 * nothing; on a terminal (a pseudo-terminal made by `script`) a redrawn progress bar with users done of total,
 * rate and time left; without one, plain lines; `--json` one JSON object per line; the first run stops where
 * both app versions work, `--complete` finishes, and the schema is then the offline migration's.
 */
import { execFile } from "child_process";
import { join } from "path";
import { promisify } from "util";
import { fillV1 } from "../fixtures/v1-users";
import { describeEachDatabase } from "../support/database";
import { buildMigrationChild } from "../reliability/support/child-build";
import { schemaFingerprint } from "../reliability/support/snapshots";
import { APPS, MIGRATIONS } from "./support/apps";

const run = promisify(execFile);
const ROOT = join(__dirname, "..", "..");

describeEachDatabase("upgrade command", (db) => {
  let cli: string;
  let dataSourceFile: string;
  const env = (version: number) => {
    const options = db.options([]) as { type: string; url?: string; database?: string };
    return {
      ...process.env,
      TSM_CLI_CONNECTION: JSON.stringify({ type: options.type, url: options.url, database: options.database }),
      TSM_CLI_VERSION: String(version),
    };
  };
  /** The command without a terminal: stdout, and the exit code. */
  const upgrade = async (version: number, ...args: string[]) => {
    const result = await run(process.execPath, [cli, "upgrade", "-d", dataSourceFile, "--online", ...args], {
      cwd: ROOT,
      env: env(version),
    }).catch((error: { stdout: string; stderr: string; code: number }) => error);
    return { stdout: result.stdout, stderr: result.stderr, code: "code" in result ? result.code : 0 };
  };
  const fingerprint = async (version: 1 | 2 | 3) => {
    const ds = await db.dataSource([...APPS[version]], { migrations: MIGRATIONS[version] });
    try {
      return await schemaFingerprint(ds, db.kind);
    } finally {
      await ds.destroy();
    }
  };

  beforeAll(async () => {
    cli = buildMigrationChild("src/cli");
    dataSourceFile = join(ROOT, ".reliability", "child", "test", "online", "support", "cli-data-source.js");
    const ds = await db.dataSource([...APPS[1]], { migrations: MIGRATIONS[1] });
    await ds.runMigrations({ transaction: "all" });
    await fillV1(ds, 3_000);
    await ds.destroy();
  }, 120_000);

  jest.setTimeout(120_000);

  it("--dry-run prints every phase with its statements and changes nothing; with --json the same as one object", async () => {
    const before = await fingerprint(1);
    const text = await upgrade(2, "--dry-run");
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^Online upgrade V1 to V2:\n\[todo\] V2 check: /);
    expect(text.stdout).toMatch(/\[todo\] V2 backfill: give every existing user a distinct random fs_token_uniquifier.*\(3,000 users\)/);
    expect(text.stdout).toMatch(
      /-- here both app versions work: deploy the new one everywhere, then run again with --complete --\n\[todo\] V2 complete/,
    );
    expect(text.stdout).toMatch(/^ {9}UPDATE .*fs_token_uniquifier.* (IS NULL|= '')$/m);
    const json = await upgrade(2, "--dry-run", "--json");
    const plan = JSON.parse(json.stdout);
    expect(plan).toMatchObject({ type: "plan", fromVersion: 1, toVersion: 2, done: false, readyForNewVersion: false });
    expect(plan.phases.map((p: { phase: string }) => p.phase)).toEqual([
      "check",
      "expand",
      "backfill",
      "indexes",
      ...(db.kind === "postgres" ? ["not-null"] : []),
      "complete",
    ]);
    expect(await fingerprint(1)).toBe(before);
  });

  it("on a terminal: a progress bar redrawn in place (users done of total, rate, time left); then ready for the new version", async () => {
    const command = [process.execPath, cli, "upgrade", "-d", dataSourceFile, "--online", "--batch-ms", "2"]
      .map((part) => `'${part}'`)
      .join(" ");
    const { stdout } = await run("script", ["-qefc", command, "/dev/null"], { cwd: ROOT, env: env(2) });
    // eslint-disable-next-line no-control-regex -- the terminal's erase-line sequence is what is tested
    expect(stdout).toMatch(/\r\x1b\[2KV2 backfill \[█*░*\] \d+% {2}[\d,]+\/3,000 users {2}[\d,]+\/s/);
    expect(stdout).toMatch(/\[█{24}\] 100% {2}3,000\/3,000 users {2}[\d,]+\/s {2}0 s left/);
    expect(stdout).toMatch(/Ready: both app versions work now\. Deploy the new version everywhere, then run again with --complete\./);
  });

  it("without a terminal: plain lines; --complete finishes at the offline migration's schema", async () => {
    const { stdout, code } = await upgrade(2, "--complete");
    expect(code).toBe(0);
    expect(stdout).not.toContain("\r");
    expect(stdout).not.toContain("\x1b");
    expect(stdout).toMatch(/^V2 complete: remove the temporary .* record SecurityV2TokenUniquifierUniqueUsername1795737660000 as applied/m);
    expect(stdout).toMatch(/^V2 complete: done in [\d.]+ s$/m);
    expect(stdout).toMatch(/Done: the database is at V2/);
    expect((await upgrade(2, "--complete")).stdout).toMatch(/Done: the database is at V2/);
  });

  it("--json: one JSON object per line, progress then the result; V2 to V3 reaches the offline migration's schema", async () => {
    const { stdout, code } = await upgrade(3, "--complete", "--json", "--batch-ms", "2");
    expect(code).toBe(0);
    const lines = stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    const progress = lines.filter((l) => l.type === "progress" && l.event === "progress");
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[progress.length - 1]).toMatchObject({ phase: "backfill", rowsTotal: 3_000, rowsDone: 3_000 });
    expect(lines[lines.length - 1]).toMatchObject({ type: "result", fromVersion: 2, toVersion: 3, done: true });
    const upgraded = await fingerprint(3);
    // The same database upgraded offline: V3's migration reverted, then run again.
    const ds = await db.dataSource([...APPS[3]], { migrations: MIGRATIONS[3] });
    await ds.undoLastMigration({ transaction: "all" });
    await ds.runMigrations({ transaction: "all" });
    expect(await schemaFingerprint(ds, db.kind)).toBe(upgraded);
    await ds.destroy();
  });

  it("a mistake on the command line: exit code 2 and the usage", async () => {
    const result = await run(process.execPath, [cli, "upgrade", "-d", dataSourceFile], { cwd: ROOT, env: env(3) }).catch((error) => error);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/upgrade needs --online; the offline path is TypeORM's own/);
    for (const workers of ["0", "1.5", "65", "two"]) {
      const wrong = await run(process.execPath, [cli, "upgrade", "-d", dataSourceFile, "--online", "--workers", workers], {
        cwd: ROOT,
        env: env(3),
      }).catch((error) => error);
      expect({ workers, code: wrong.code }).toEqual({ workers, code: 2 });
      expect(wrong.stderr).toContain("--workers needs a whole number of connections from 1 to 64");
    }
  });
});
