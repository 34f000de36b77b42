/**
 * The exact statements the shipped migrations send (V1 up, V2 up, V3 up, V3 down, V2 down, V1 down), with their
 * parameters, on each database, compared with the recorded ones in `test/fixtures/migration-sql/`. Released
 * migrations are frozen: a refactor of the code they import must leave every statement as it was. The fixtures
 * are regenerated (after a deliberate change only) with `TSM_UPDATE_SQL=1 npx jest test/migration-sql.test.ts`,
 * once per TypeORM major: a major whose statements differ from 1.x's keeps its own `<db>.typeorm-<major>.sql`.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import { dirname, join } from "path";
import type { Logger, MigrationInterface, QueryRunner } from "typeorm";
import { securityMigrations } from "../migrations";
import * as v3 from "./fixtures/app-v3";
import * as renamedV3 from "./fixtures/app-renamed-v3";
import { describeEachDatabase } from "./support/database";

const FIXTURES = join(__dirname, "fixtures", "migration-sql");
const UPDATE = process.env.TSM_UPDATE_SQL === "1";
/** The installed TypeORM's major ("0.3" for 0.3.x), read from its package.json beside its entry point. */
const MAJOR = (() => {
  const { version } = JSON.parse(readFileSync(join(dirname(require.resolve("typeorm")), "package.json"), "utf8")) as { version: string };
  return version.startsWith("0.") ? version.split(".").slice(0, 2).join(".") : version.split(".")[0];
})();

/** A logger that keeps every statement sent while `recording` is on, with its parameters. */
class StatementRecorder implements Logger {
  readonly statements: string[] = [];
  recording = false;

  logQuery(query: string, parameters?: unknown[]): void {
    if (!this.recording) return;
    this.statements.push(parameters && parameters.length > 0 ? `${query}\n-- parameters: ${JSON.stringify(parameters)}` : query);
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

const apps = [
  { label: "user/role", entities: [v3.User, v3.Role, v3.WebAuthn] },
  { label: "accounts/groups/passkeys", entities: [renamedV3.Account, renamedV3.Group, renamedV3.Passkey] },
];

const steps: Array<{ label: string; migration: number; direction: "up" | "down" }> = [
  { label: "V1 up", migration: 0, direction: "up" },
  { label: "V2 up", migration: 1, direction: "up" },
  { label: "V3 up", migration: 2, direction: "up" },
  { label: "V3 down", migration: 2, direction: "down" },
  { label: "V2 down", migration: 1, direction: "down" },
  { label: "V1 down", migration: 0, direction: "down" },
];

describeEachDatabase("statements the shipped migrations send", (db) => {
  it("are the recorded ones, for default and renamed tables", async () => {
    const recorded: string[] = [];
    for (const app of apps) {
      const recorder = new StatementRecorder();
      const ds = await db.dataSource(app.entities, { logger: recorder });
      const runner: QueryRunner = ds.createQueryRunner();
      try {
        for (const step of steps) {
          const migration = new securityMigrations[step.migration]() as MigrationInterface;
          recorder.statements.length = 0;
          recorder.recording = true;
          try {
            await migration[step.direction](runner);
          } finally {
            recorder.recording = false;
          }
          // The throw-away database's random name is the one value that changes from run to run.
          const statements = recorder.statements.map((statement) => statement.split(db.name).join("<database>"));
          recorded.push(`-- ${app.label}: ${step.label}\n${statements.join(";\n")};\n`);
        }
      } finally {
        await runner.release();
        await ds.destroy();
      }
    }
    const actual = recorded.join("\n");

    const common = join(FIXTURES, `${db.kind}.sql`);
    const ofMajor = join(FIXTURES, `${db.kind}.typeorm-${MAJOR}.sql`);
    if (UPDATE) {
      mkdirSync(FIXTURES, { recursive: true });
      if (MAJOR === "1") writeFileSync(common, actual);
      else if (existsSync(common) && readFileSync(common, "utf8") === actual) rmSync(ofMajor, { force: true });
      else writeFileSync(ofMajor, actual);
    }
    const expected = readFileSync(existsSync(ofMajor) ? ofMajor : common, "utf8");
    expect(actual).toBe(expected);
  });
});
