/**
 * The demo (`npm run demo`): an app that extends the base entities, creates roles and users, and prints what
 * they look like, the checks an app makes, and what its JSON leaves out. Runs on the SQLite file
 * `demo.sqlite` (ormconfig.ts), which it rebuilds each time.
 */
import "reflect-metadata";
import dataSource from "../../ormconfig";
import { Role, User } from "./entities";

async function main(): Promise<void> {
  if (dataSource.options.type !== "better-sqlite3" && process.env.DEMO_ALLOW_RESET !== "yes") {
    throw new Error("The demo drops and rebuilds its database. Unset DATABASE_URL, or set DEMO_ALLOW_RESET=yes for a database you can lose.");
  }
  await dataSource.initialize();
  await dataSource.synchronize(true); // until the shipped migrations land: build the V2 schema from the entities

  const roles = dataSource.getRepository(Role);
  const users = dataSource.getRepository(User);
  const [admin, editor] = await roles.save([
    roles.create({ name: "admin", description: "Runs the site", permissions: ["user-admin", "post-write", "post-read"] }),
    roles.create({ name: "editor", description: "Writes posts", permissions: ["post-write", "post-read"] }),
  ]);
  await users.save([
    users.create({ email: "ada@example.com", password: "$2b$12$demo-hash-not-a-password", name: "Ada", roles: [admin], confirmedAt: new Date() }),
    users.create({ email: "grace@example.com", username: "grace", password: "$2b$12$demo-hash-not-a-password", name: "Grace", roles: [editor] }),
  ]);

  for (const user of await users.find({ relations: { roles: true }, order: { id: "ASC" } })) {
    console.log(`\n${user.calcUsername()} (id ${user.id})`);
    console.log("  JSON (no password hash, no uniquifiers):", JSON.stringify(user));
    console.log("  security payload:", JSON.stringify(user.getSecurityPayload()));
    console.log(`  hasRole("admin"): ${user.hasRole("admin")}   hasPermission("post-write"): ${user.hasPermission("post-write")}   hasPermission("user-admin"): ${user.hasPermission("user-admin")}`);
  }

  const userTable = dataSource.driver.escape(dataSource.getMetadata(User).tableName);
  const [row] = await dataSource.query(
    `SELECT email, LENGTH(fs_uniquifier) AS fs_uniquifier_length, LENGTH(fs_token_uniquifier) AS fs_token_uniquifier_length, create_datetime FROM ${userTable} WHERE email = 'ada@example.com'`,
  );
  console.log("\nIn the row, beside what the JSON shows (tokens are secrets: only their lengths are printed):", row);
  console.log("Roles as stored:", await dataSource.query(`SELECT name, permissions FROM role ORDER BY id`));
  await dataSource.destroy();
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
