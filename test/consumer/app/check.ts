/**
 * Run after `typeorm migration:run -d data-source.js`: the CLI made every table and left nothing pending, the
 * schema builder wants no change, and the datastore saves and reads a user with a role. Exits non-zero with
 * the reason otherwise.
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
  for (const table of ["user", "role", "roles_users", "web_authn", "migrations"]) {
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
  await dataSource.destroy();
  console.log("check: tables, migrations, drift and datastore OK");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
