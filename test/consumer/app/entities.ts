/** The consumer app's entities for the CLI and the checks: the newest bases, extended the way the README says. */
import { Column, Entity } from "typeorm";
import type { Relation } from "typeorm";
import { RefreshTrackerMixinV1, RoleMixinV1, UserMixinV4, WebAuthnMixinV1 } from "typeorm-security-models";

@Entity()
export class Role extends RoleMixinV1 {}

@Entity()
export class WebAuthn extends WebAuthnMixinV1 {
  declare user: Relation<User>;
}

@Entity()
export class FsRefreshTracker extends RefreshTrackerMixinV1 {
  declare user: Relation<User>;
}

@Entity()
export class User extends UserMixinV4 {
  declare roles: Role[];
  declare webauthn: WebAuthn[];
  declare refreshTrackers: FsRefreshTracker[];

  @Column({ type: "varchar", length: 80, nullable: true })
  name!: string | null;

  override getSecurityPayload(): Record<string, unknown> {
    return { ...super.getSecurityPayload(), username: this.calcUsername(), name: this.name };
  }
}
