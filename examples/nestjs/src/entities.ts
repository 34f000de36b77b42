/**
 * The app's User, Role and WebAuthn: the package's newest bases (schema version 3), extended with what the
 * app shows in its payload.
 */
import { Entity } from "typeorm";
import type { Relation } from "typeorm";
import { RoleMixinV1, UserMixinV3, WebAuthnMixinV1 } from "typeorm-security-models";

@Entity()
export class Role extends RoleMixinV1 {}

@Entity()
export class WebAuthn extends WebAuthnMixinV1 {
  declare user: Relation<User>;
}

@Entity()
export class User extends UserMixinV3 {
  declare roles: Role[];
  declare webauthn: WebAuthn[];

  /** What the app puts in its session or token: the name to show and the permissions the UI needs. */
  override getSecurityPayload(): Record<string, unknown> {
    const permissions = [...new Set(this.roles?.flatMap((role) => [...role.getPermissions()]) ?? [])];
    return { ...super.getSecurityPayload(), username: this.calcUsername(), permissions };
  }
}
