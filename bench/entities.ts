/** Entities of apps with no columns of their own (V2 to V4): what the shipped migrations alone must match. */
import { Entity, ManyToMany, ManyToOne, OneToMany } from "typeorm";
import type { Relation } from "typeorm";
import { RefreshTrackerMixinV1, RoleMixinV1, UserMixinV2, UserMixinV3, UserMixinV4, WebAuthnMixinV1 } from "../src";

@Entity("role")
export class BenchRole extends RoleMixinV1 {}

@Entity("user")
export class BenchUser extends UserMixinV2 {
  @ManyToMany(() => BenchRole) declare roles: BenchRole[];
}

@Entity("web_authn")
export class BenchWebAuthn extends WebAuthnMixinV1 {
  @ManyToOne(() => BenchUserV3, (user) => user.webauthn, { onDelete: "CASCADE" }) declare user: Relation<BenchUserV3>;
}

@Entity("user")
export class BenchUserV3 extends UserMixinV3 {
  @ManyToMany(() => BenchRole) declare roles: BenchRole[];
  @OneToMany(() => BenchWebAuthn, (credential) => credential.user) declare webauthn: BenchWebAuthn[];
}

@Entity("web_authn")
export class BenchWebAuthnV4 extends WebAuthnMixinV1 {
  @ManyToOne(() => BenchUserV4, (user) => user.webauthn, { onDelete: "CASCADE" }) declare user: Relation<BenchUserV4>;
}

@Entity("fs_refresh_tracker")
export class BenchRefreshTracker extends RefreshTrackerMixinV1 {
  @ManyToOne(() => BenchUserV4, (user) => user.refreshTrackers, { onDelete: "CASCADE", nullable: false })
  declare user: Relation<BenchUserV4>;
}

@Entity("user")
export class BenchUserV4 extends UserMixinV4 {
  @ManyToMany(() => BenchRole) declare roles: BenchRole[];
  @OneToMany(() => BenchWebAuthnV4, (credential) => credential.user) declare webauthn: BenchWebAuthnV4[];
  @OneToMany(() => BenchRefreshTracker, (tracker) => tracker.user) declare refreshTrackers: BenchRefreshTracker[];
}
