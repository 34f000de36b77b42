/**
 * The shipped migrations, in the order they must run. Spread them into a DataSource's `migrations` beside
 * the app's own: `migrations: [...securityMigrations, "migrations/*.ts"]`. They take the table names from
 * the app's User and Role entities, which must be registered in the same DataSource. The lists come from the
 * table of schema versions (`src/versions.ts`).
 */
import { SecurityV1CreateTables1795737600000 } from "./1795737600000-SecurityV1CreateTables";
import { SecurityV2TokenUniquifierUniqueUsername1795737660000 } from "./1795737660000-SecurityV2TokenUniquifierUniqueUsername";
import { SecurityV3WebAuthnRecoveryCodes1795737720000 } from "./1795737720000-SecurityV3WebAuthnRecoveryCodes";
import { SecurityV4RefreshTrackers1795737780000 } from "./1795737780000-SecurityV4RefreshTrackers";
import { LATEST_VERSION, migrationsUpTo } from "../src/versions";

export {
  SecurityV1CreateTables1795737600000,
  SecurityV2TokenUniquifierUniqueUsername1795737660000,
  SecurityV3WebAuthnRecoveryCodes1795737720000,
  SecurityV4RefreshTrackers1795737780000,
};

/** Every shipped migration, oldest first: up to the latest schema version. */
export const securityMigrations = migrationsUpTo(LATEST_VERSION);

/** The migrations up to and including schema version 3, for an app that stays on UserMixinV3. */
export const securityMigrationsV3 = migrationsUpTo(3);

/** The migrations up to and including schema version 2, for an app that stays on UserMixinV2. */
export const securityMigrationsV2 = migrationsUpTo(2);

/** The migrations up to and including schema version 1, for an app that stays on UserMixinV1. */
export const securityMigrationsV1 = migrationsUpTo(1);
