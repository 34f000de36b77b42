/**
 * The demo app's entities: what an app writes to use the package. Role, User, WebAuthn and FsRefreshTracker
 * extend the versioned bases (schema version 4); User adds a field of the app's own and puts it in the security payload.
 */
import { Column, Entity } from "typeorm";
import type { Relation } from "typeorm";
import { RefreshTrackerMixinV1, RoleMixinV1, UserMixinV4, WebAuthnMixinV1 } from "../../src";

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

  /** The app's own field: a display name. */
  @Column({ name: "name", type: "varchar", length: 80, nullable: true })
  name!: string | null;

  override getSecurityPayload(): Record<string, unknown> {
    return { ...super.getSecurityPayload(), username: this.calcUsername(), name: this.name, confirmationNeeded: this.confirmedAt === null };
  }
}
