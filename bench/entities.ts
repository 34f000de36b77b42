/** Entities of a V2 app with no columns of its own: what the shipped migrations alone must match. */
import { Entity, ManyToMany } from "typeorm";
import { RoleMixinV1, UserMixinV2 } from "../src";

@Entity("role")
export class BenchRole extends RoleMixinV1 {}

@Entity("user")
export class BenchUser extends UserMixinV2 {
  @ManyToMany(() => BenchRole) declare roles: BenchRole[];
}
