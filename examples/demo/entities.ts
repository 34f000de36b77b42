/**
 * The demo app's entities: what an app writes to use the package. Role, User and WebAuthn extend the versioned
 * bases (schema version 3); User adds a field of the app's own and puts it in the security payload.
 */
import { Column, Entity } from "typeorm";
import type { Relation } from "typeorm";
import { RoleMixinV1, UserMixinV3, WebAuthnMixinV1 } from "../../src";

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

  /** The app's own field: a display name. */
  @Column({ name: "name", type: "varchar", length: 80, nullable: true })
  name!: string | null;

  override getSecurityPayload(): Record<string, unknown> {
    return { ...super.getSecurityPayload(), username: this.calcUsername(), name: this.name, confirmationNeeded: this.confirmedAt === null };
  }
}
