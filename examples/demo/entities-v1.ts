/** The demo app as it was before its upgrade: on schema version 1, with no fields of its own yet. */
import { Entity, ManyToMany } from "typeorm";
import { RoleMixinV1, UserMixinV1 } from "../../src";

@Entity("role")
export class RoleAtV1 extends RoleMixinV1 {}

@Entity("user")
export class UserAtV1 extends UserMixinV1 {
  // Classes not called User/Role retarget the relation in one line.
  @ManyToMany(() => RoleAtV1) declare roles: RoleAtV1[];
}
