/**
 * The demo (`npm run demo`): an app's life with the package. It creates the V1 schema with the shipped
 * migrations, signs up users with roles through the datastore, upgrades to V4 (the shipped V2, V3 and V4
 * migrations and the app's own, which adds a `name` column), shows that every user and link survived, uses the
 * datastore (lookups, sign-ins, role changes, refused input), registers a passkey and recovery codes (V3),
 * exchanges a refresh token and catches its reuse (V4), and prints what the users look like: their JSON (no secrets), their security payload and role checks. Runs on the SQLite file `demo.sqlite`, which
 * it rebuilds each time.
 */
import "reflect-metadata";
import { randomBytes } from "crypto";
import { DataSource } from "typeorm";
import { SecurityDatastore, SecurityModelError } from "../../src";
import { securityMigrationsV1 } from "../../migrations";
import dataSource, { optionsFor } from "../../ormconfig";
import { Role, User, WebAuthn } from "./entities";
import { RoleAtV1, UserAtV1 } from "./entities-v1";

const DEMO_HASH = "$2b$12$demo-hash-not-a-password"; // a real app stores its password hasher's output

async function rolesByUser(ds: DataSource): Promise<string[]> {
  const rows: Array<{ email: string; name: string }> = await ds.query(
    `SELECT u.email AS email, r.name AS name FROM ${ds.driver.escape("user")} u JOIN roles_users l ON l.user_id = u.id JOIN role r ON r.id = l.role_id ORDER BY u.email, r.name`,
  );
  return rows.map((row) => `${row.email}:${row.name}`);
}

async function main(): Promise<void> {
  if (dataSource.options.type !== "better-sqlite3" && process.env.DEMO_ALLOW_RESET !== "yes") {
    throw new Error(
      "The demo drops and rebuilds its database. Unset DATABASE_URL, or set DEMO_ALLOW_RESET=yes for a database you can lose.",
    );
  }

  // 1. The app at schema version 1: the shipped V1 migration builds the tables.
  const atV1 = new DataSource(optionsFor(process.env.DATABASE_URL, { entities: [UserAtV1, RoleAtV1], migrations: securityMigrationsV1 }));
  await atV1.initialize();
  await atV1.dropDatabase();
  await atV1.runMigrations();
  const storeAtV1 = new SecurityDatastore(atV1, UserAtV1, RoleAtV1);
  await storeAtV1.createRole({ name: "admin", description: "Runs the site", permissions: "user-admin, post-write, post-read" });
  await storeAtV1.createRole({ name: "editor", description: "Writes posts", permissions: ["post-write", "post-read"] });
  await storeAtV1.createUser({ email: "ada@example.com", password: DEMO_HASH }, { roles: ["admin", "editor"], confirmedAt: new Date() });
  await storeAtV1.createUser({ email: "grace@example.com", username: "grace", password: DEMO_HASH }, { roles: ["editor"] });
  await storeAtV1.createUser({ email: "linus@example.com", password: DEMO_HASH });
  const users = atV1.getRepository(UserAtV1);
  const linksAtV1 = await rolesByUser(atV1);
  console.log(`At V1: ${await users.count()} users, ${linksAtV1.length} role links (${linksAtV1.join(", ")})`);
  await atV1.destroy();

  // 2. The app upgrades to V4: the shipped V1-to-V2, V2-to-V3 and V3-to-V4 migrations, then the app's own.
  await dataSource.initialize();
  const ran = await dataSource.runMigrations({ transaction: "all" });
  console.log(`Upgraded with: ${ran.map((m) => m.name).join(", ")}`);
  const linksAtV4 = await rolesByUser(dataSource);
  const usersNow = dataSource.getRepository(User);
  const same = JSON.stringify(linksAtV1) === JSON.stringify(linksAtV4);
  console.log(`At V4: ${await usersNow.count()} users, ${linksAtV4.length} role links, ${same ? "identical to V1" : "DIFFERENT from V1"}`);

  // 3. The datastore at V4: lookups in any letter case, sign-ins, role changes, refused input.
  const store = new SecurityDatastore(dataSource, User, Role);
  const ada = (await store.findUserByEmail("ADA@example.com"))!;
  ada.name = "Ada";
  await usersNow.save(ada);
  await store.recordLogin(ada, "192.0.2.10");
  await store.recordLogin(ada, "192.0.2.11");
  const grace = (await store.findUserByUsername("Grace"))!;
  console.log(
    `addRoleToUser(grace, "admin"): ${await store.addRoleToUser(grace, "admin")}, again: ${await store.addRoleToUser(grace, "admin")}`,
  );
  for (const bad of [
    { email: "Ada@Example.COM", password: DEMO_HASH },
    { email: "not-an-email", password: DEMO_HASH },
    { email: "new@example.com", password: DEMO_HASH, roles: ["root"] },
  ]) {
    const refused = await store.createUser(bad).catch((error: SecurityModelError) => error);
    console.log(`createUser(${JSON.stringify(bad.email)}) refused: ${refused.name}: ${(refused as Error).message}`);
  }

  // 4. Version 3: a passkey (the bytes a WebAuthn library would hand over), recovery codes, a user without a password.
  const credentialId = randomBytes(32);
  ada.mfRecoveryCodes = ["7kq2-m9xd-4hpw", "c3vt-8bnr-q6za", "p5ye-2jfs-w7gu"];
  ada.webauthn = [
    dataSource.getRepository(WebAuthn).create({
      credentialId,
      publicKey: randomBytes(77),
      transports: ["internal", "hybrid"],
      backupState: true,
      deviceType: "multi_device",
      name: "Ada's laptop",
      usage: "first",
    }),
  ];
  await usersNow.save(ada);
  const signingIn = await dataSource.getRepository(WebAuthn).findOneOrFail({ where: { credentialId }, relations: { user: true } });
  console.log(
    `\nPasskey "${signingIn.name}" (${signingIn.transports.join("+")}, sign count ${signingIn.signCount}) belongs to ${signingIn.user.email}; Ada has ${ada.mfRecoveryCodes.length} recovery codes`,
  );
  const passkeyOnly = await store.createUser({ email: "margaret@example.com", password: null }, { roles: ["editor"] });
  console.log(`createUser without a password (V3): ${passkeyOnly.email}, password ${passkeyOnly.password}`);

  // 5. Version 4: a refresh token (its family and generation go into the token the app signs), exchanged once,
  // then presented again as a thief would: the reuse is caught and the whole family revoked.
  const phone = await store.createRefreshTracker(ada, { name: "Ada's phone", expiresAt: new Date(Date.now() + 30 * 86_400_000) });
  const exchanged = await store.exchangeRefreshTracker(phone.refreshFamily, 1);
  const replayed = await store.exchangeRefreshTracker(phone.refreshFamily, 1);
  const owner = await store.exchangeRefreshTracker(phone.refreshFamily, 2);
  console.log(
    `\nRefresh token of "${phone.name}": exchange at generation 1: ${exchanged.outcome} (now ${exchanged.outcome === "exchanged" ? exchanged.tracker.gen : "?"}); ` +
      `generation 1 again: ${replayed.outcome}; the owner's generation 2 after that: ${owner.outcome}`,
  );
  console.log("  the tracker after the reuse, as JSON (no refresh family):", JSON.stringify("tracker" in owner ? owner.tracker : phone));

  // 6. What the users look like now.
  for (const user of await usersNow.find({ relations: { roles: true }, order: { id: "ASC" } })) {
    console.log(`\n${user.calcUsername()} (id ${user.id})`);
    console.log("  JSON (no password hash, uniquifiers, WebAuthn handle or recovery codes):", JSON.stringify(user));
    console.log("  security payload:", JSON.stringify(user.getSecurityPayload()));
    console.log(
      `  hasRole("admin"): ${user.hasRole("admin")}   hasPermission("post-write"): ${user.hasPermission("post-write")}   hasPermission("user-admin"): ${user.hasPermission("user-admin")}`,
    );
  }

  const userTable = dataSource.driver.escape(dataSource.getMetadata(User).tableName);
  const [row] = await dataSource.query(
    `SELECT COUNT(DISTINCT fs_token_uniquifier) AS distinct_token_uniquifiers, MIN(LENGTH(fs_token_uniquifier)) AS token_length FROM ${userTable}`,
  );
  console.log("\nToken uniquifiers the upgrade gave the existing users (secrets: only counted):", row);
  console.log(
    "Roles as stored:",
    await dataSource.query(`SELECT name, permissions FROM ${dataSource.driver.escape(dataSource.getMetadata(Role).tableName)} ORDER BY id`),
  );
  await dataSource.destroy();
  if (!same || exchanged.outcome !== "exchanged" || replayed.outcome !== "reused" || owner.outcome !== "revoked") process.exit(1);
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
