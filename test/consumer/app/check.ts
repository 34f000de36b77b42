/**
 * Run after `typeorm migration:run -d data-source.js`: the CLI made every table and left nothing pending, the
 * schema builder wants no change, the datastore saves and reads a user with a role, and a refresh token
 * (schema version 4) is created, exchanged, and its reuse detected. Exits non-zero with the reason otherwise.
 */
import { SecurityDatastore } from "typeorm-security-models";
import dataSource from "./data-source.js";
import { Role, User } from "./entities.js";

function expect(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

async function main(): Promise<void> {
  await dataSource.initialize();
  const rows: { name: string }[] = await dataSource.query("SELECT name FROM sqlite_master WHERE type = 'table'");
  const tables = rows.map((row) => row.name);
  for (const table of ["user", "role", "roles_users", "web_authn", "fs_refresh_tracker", "migrations"]) {
    expect(tables.includes(table), `table "${table}" is missing after migration:run (tables: ${tables.join(", ")})`);
  }
  expect(!(await dataSource.showMigrations()), "migrations are still pending after migration:run");
  const drift = await dataSource.driver.createSchemaBuilder().log();
  expect(drift.upQueries.length === 0, `the schema builder wants changes: ${drift.upQueries.map((q) => q.query).join("; ")}`);

  const store = new SecurityDatastore(dataSource, User, Role);
  await store.findOrCreateRole("editor", { permissions: "post-read, post-write" });
  await store.createUser({ email: "ada@example.com", password: "hash-from-the-app" }, { roles: ["editor"] });
  const ada = await store.findUserByEmail("ADA@example.com", { withRoles: true });
  expect(ada !== null && ada.hasRole("editor") && ada.hasPermission("post-write"), "the saved user was not read back with its role");
  expect(ada !== null && !JSON.stringify(ada).includes("hash-from-the-app"), "JSON.stringify(user) shows the password hash");

  // A refresh token: its family and generation go into the signed token; the second use of generation 1 is a reuse.
  const tracker = await store.createRefreshTracker(ada!, { name: "phone", expiresAt: new Date(Date.now() + 86_400_000) });
  const first = await store.exchangeRefreshTracker(tracker.refreshFamily, tracker.gen!);
  expect(first.outcome === "exchanged" && first.tracker.gen === 2, `the first exchange: ${first.outcome}`);
  const replayed = await store.exchangeRefreshTracker(tracker.refreshFamily, 1);
  expect(replayed.outcome === "reused", `generation 1 presented again: ${replayed.outcome}, expected reused`);
  const afterReuse = await store.exchangeRefreshTracker(tracker.refreshFamily, 2);
  expect(afterReuse.outcome === "revoked", `the family after the reuse: ${afterReuse.outcome}, expected revoked`);
  expect(!JSON.stringify(tracker).includes(tracker.refreshFamily), "JSON.stringify(tracker) shows the refresh family");
  await dataSource.destroy();
  console.log("check: tables, migrations, drift, datastore and refresh tokens OK");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
