/** The consumer app's entities for the CLI and the checks: the bases extended the way the README says. */
import { Column, Entity } from "typeorm";
import { RoleMixinV1, UserMixinV2 } from "typeorm-security-models";

@Entity()
export class Role extends RoleMixinV1 {}

@Entity()
export class User extends UserMixinV2 {
  declare roles: Role[];

  @Column({ type: "varchar", length: 80, nullable: true })
  name!: string | null;

  override getSecurityPayload(): Record<string, unknown> {
    return { ...super.getSecurityPayload(), username: this.calcUsername(), name: this.name };
  }
}
