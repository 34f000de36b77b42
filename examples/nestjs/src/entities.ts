/**
 * The app's User, Role, WebAuthn and FsRefreshTracker: the package's newest bases (schema version 4),
 * extended with what the app shows in its payload.
 */
import { Entity } from "typeorm";
import type { Relation } from "typeorm";
import { RefreshTrackerMixinV1, RoleMixinV1, UserMixinV4, WebAuthnMixinV1 } from "typeorm-security-models";

@Entity()
export class Role extends RoleMixinV1 {}

@Entity()
export class WebAuthn extends WebAuthnMixinV1 {
  declare user: Relation<User>;
}

/** One refresh-token family per signed-in device (table `fs_refresh_tracker`, as Flask-Security's). */
@Entity()
export class FsRefreshTracker extends RefreshTrackerMixinV1 {
  declare user: Relation<User>;
}

@Entity()
export class User extends UserMixinV4 {
  declare roles: Role[];
  declare webauthn: WebAuthn[];
  declare refreshTrackers: FsRefreshTracker[];

  /** What the app puts in its session or token: the name to show and the permissions the UI needs. */
  override getSecurityPayload(): Record<string, unknown> {
    const permissions = [...new Set(this.roles?.flatMap((role) => [...role.getPermissions()]) ?? [])];
    return { ...super.getSecurityPayload(), username: this.calcUsername(), permissions };
  }
}
