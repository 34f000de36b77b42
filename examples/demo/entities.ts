/**
 * The demo app's entities: what an app writes to use the package. Role and User extend the versioned bases;
 * User adds a field of the app's own and puts it in the security payload.
 */
import { Column, Entity } from "typeorm";
import { RoleMixinV1, UserMixinV2 } from "../../src";

@Entity()
export class Role extends RoleMixinV1 {}

@Entity()
export class User extends UserMixinV2 {
  declare roles: Role[];

  /** The app's own field: a display name. */
  @Column({ name: "name", type: "varchar", length: 80, nullable: true })
  name!: string | null;

  override getSecurityPayload(): Record<string, unknown> {
    return { ...super.getSecurityPayload(), username: this.calcUsername(), name: this.name, confirmationNeeded: this.confirmedAt === null };
  }
}
