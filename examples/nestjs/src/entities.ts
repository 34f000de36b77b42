/** The app's User and Role: the package's versioned bases, extended with what the app shows in its payload. */
import { Entity } from "typeorm";
import { RoleMixinV1, UserMixinV2 } from "typeorm-security-models";

@Entity()
export class Role extends RoleMixinV1 {}

@Entity()
export class User extends UserMixinV2 {
  declare roles: Role[];

  /** What the app puts in its session or token: the name to show and the permissions the UI needs. */
  override getSecurityPayload(): Record<string, unknown> {
    const permissions = [...new Set(this.roles?.flatMap((role) => [...role.getPermissions()]) ?? [])];
    return { ...super.getSecurityPayload(), username: this.calcUsername(), permissions };
  }
}
