/**
 * RoleMixinV1: the `role` table of Flask-Security's fsqla v1, unchanged in v2 and v3.
 *
 * FROZEN: this file is a released schema version. A new need is a new version (RoleMixinV2) with its own
 * migration, never an edit here.
 *
 * Columns: id, name, description, permissions (comma list), update_datetime.
 */
import { Column, Index, PrimaryGeneratedColumn, UpdateDateColumn } from "typeorm";
import { IsNotEmpty, IsOptional, MaxLength } from "class-validator";
import { commaListTransformer } from "../lists";
import { IsCommaList } from "../validation";
import { Feature } from "../columns/tags";

/**
 * Abstract base of an app's Role entity. Extend it with `@Entity() class Role extends RoleMixinV1 {}`;
 * call the class `Role` (or retarget `roles` on the user, see the README) and any table name works.
 */
export abstract class RoleMixinV1 {
  /** Primary key; the target of `roles_users.role_id`. Always needed. */
  @Feature("none")
  @PrimaryGeneratedColumn({ name: "id", type: "integer" })
  id!: number;

  /** The role's name, what `hasRole("admin")` compares against. Unique. Always needed. */
  @Feature("core")
  @IsNotEmpty()
  @MaxLength(80)
  @Index({ unique: true })
  @Column({ name: "name", type: "varchar", length: 80 })
  name!: string;

  /** Free text for administrators. Always present in Flask-Security's model. */
  @Feature("core")
  @IsOptional()
  @MaxLength(255)
  @Column({ name: "description", type: "varchar", length: 255, nullable: true })
  description!: string | null;

  /**
   * What holders of this role may do, checked by `hasPermission`. Stored as a comma list (`read,write`).
   * Needed by permissions (Flask-Security's `@permissions_required`).
   */
  @Feature("permissions")
  @IsCommaList()
  @Column({ name: "permissions", type: "text", nullable: true, transformer: commaListTransformer("Role", "permissions") })
  permissions!: string[];

  /** When the role last changed; set on every save. */
  @Feature("none")
  @UpdateDateColumn({ name: "update_datetime" })
  updateDatetime!: Date;

  /** The role's permissions as a set, for membership tests (Flask-Security's `get_permissions`). */
  getPermissions(): Set<string> {
    return new Set(this.permissions ?? []);
  }
}
