/**
 * The shipped migrations through TypeORM's CLI (`typeorm-ts-node-commonjs migration:run -d <file>`), beside
 * the app's own migration, and back with `migration:revert`.
 */
import { execFile } from "child_process";
import { promisify } from "util";
import { join } from "path";
import { describeEachDatabase } from "./support/database";

const run = promisify(execFile);
const ROOT = join(__dirname, "..");
const CLI = join(ROOT, "node_modules", ".bin", "typeorm-ts-node-commonjs");

describeEachDatabase("TypeORM CLI", (db) => {
  const cli = async (...args: string[]) => {
    const options = db.options([]) as { type: string; url?: string; database?: string };
    const connection = JSON.stringify({ type: options.type, url: options.url, database: options.database });
    const { stdout } = await run(CLI, [...args, "-d", "test/fixtures/cli-data-source.ts"], {
      cwd: ROOT,
      // Type-checking is the build's job; each CLI call would otherwise type-check the project again.
      env: { ...process.env, TSM_CLI_CONNECTION: connection, TS_NODE_TRANSPILE_ONLY: "true" },
    });
    return stdout;
  };

  jest.setTimeout(180000);

  it("migration:run applies the shipped migrations and the app's, in order; migration:revert undoes the last", async () => {
    const ran = await cli("migration:run");
    expect(ran).toMatch(/Migration SecurityV1CreateTables1795737600000 has been +executed successfully/);
    expect(ran).toMatch(/Migration SecurityV2TokenUniquifierUniqueUsername1795737660000 has been +executed successfully/);
    expect(ran).toMatch(/Migration AppAddDisplayName1800000000000 has been +executed successfully/);
    expect(ran.indexOf("SecurityV1CreateTables")).toBeLessThan(ran.indexOf("AppAddDisplayName"));
    expect(await cli("migration:show")).toMatch(/\[X\] \d+ SecurityV2TokenUniquifierUniqueUsername1795737660000/);

    await cli("migration:revert");
    await cli("migration:revert");
    const shown = await cli("migration:show");
    expect(shown).toMatch(/\[X\] \d+ SecurityV1CreateTables1795737600000/);
    expect(shown).toMatch(/\[ \] SecurityV2TokenUniquifierUniqueUsername1795737660000/);
  });
});
