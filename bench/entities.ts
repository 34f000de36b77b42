/** Entities of apps with no columns of their own (V2 and V3): what the shipped migrations alone must match. */
import { Entity, ManyToMany, ManyToOne, OneToMany } from "typeorm";
import type { Relation } from "typeorm";
import { RoleMixinV1, UserMixinV2, UserMixinV3, WebAuthnMixinV1 } from "../src";

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
