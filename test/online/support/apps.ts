/**
 * The app versions of the online-upgrade tests: entities with no columns of their own (so the schema is the
 * shipped one's exactly), by schema version, and the shipped migrations each version registers.
 */
import { securityMigrationsV3, securityMigrationsV1, securityMigrationsV2 } from "../../../migrations";
import { BenchRole, BenchUser, BenchUserV3, BenchWebAuthn } from "../../../bench/entities";
import * as v1 from "../../fixtures/app-v1";

/** Entities of the app at each schema version. */
export const APPS = {
  1: [v1.User, v1.Role],
  2: [BenchUser, BenchRole],
  3: [BenchUserV3, BenchRole, BenchWebAuthn],
} as const;

/** The shipped migrations the app at each schema version registers. */
export const MIGRATIONS = { 1: securityMigrationsV1, 2: securityMigrationsV2, 3: securityMigrationsV3 };
