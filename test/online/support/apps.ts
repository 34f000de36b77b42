/**
 * The app versions of the online-upgrade tests: entities with no columns of their own (so the schema is the
 * shipped one's exactly), by schema version, and the shipped migrations each version registers.
 */
import { Entity, ManyToMany, ManyToOne, OneToMany } from "typeorm";
import type { Relation } from "typeorm";
import { securityMigrationsV3, securityMigrationsV1, securityMigrationsV2 } from "../../../migrations";
import { BenchRole, BenchUser, BenchUserV3, BenchWebAuthn } from "../../../bench/entities";
import { RefreshTrackerMixinV1, UserMixinV4, WebAuthnMixinV1 } from "../../../src";
import { migrationsUpTo } from "../../../src/versions";
import * as v1 from "../../fixtures/app-v1";

@Entity("web_authn")
class OnlineWebAuthnV4 extends WebAuthnMixinV1 {
  @ManyToOne(() => OnlineUserV4, (user) => user.webauthn, { onDelete: "CASCADE" }) declare user: Relation<OnlineUserV4>;
}

@Entity("fs_refresh_tracker")
class OnlineRefreshTracker extends RefreshTrackerMixinV1 {
  @ManyToOne(() => OnlineUserV4, (user) => user.refreshTrackers, { onDelete: "CASCADE", nullable: false })
  declare user: Relation<OnlineUserV4>;
}

@Entity("user")
class OnlineUserV4 extends UserMixinV4 {
  @ManyToMany(() => BenchRole) declare roles: BenchRole[];
  @OneToMany(() => OnlineWebAuthnV4, (credential) => credential.user) declare webauthn: OnlineWebAuthnV4[];
  @OneToMany(() => OnlineRefreshTracker, (tracker) => tracker.user) declare refreshTrackers: OnlineRefreshTracker[];
}

/** Entities of the app at each schema version. */
export const APPS = {
  1: [v1.User, v1.Role],
  2: [BenchUser, BenchRole],
  3: [BenchUserV3, BenchRole, BenchWebAuthn],
  4: [OnlineUserV4, BenchRole, OnlineWebAuthnV4, OnlineRefreshTracker],
} as const;

/** The shipped migrations the app at each schema version registers. */
export const MIGRATIONS = { 1: securityMigrationsV1, 2: securityMigrationsV2, 3: securityMigrationsV3, 4: migrationsUpTo(4) };
