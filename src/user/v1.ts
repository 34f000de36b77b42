/**
 * UserMixinV1: the `user` table of Flask-Security's fsqla v1 (`flask_security.models.fsqla`).
 *
 * FROZEN: this file is a released schema version. A new need is a new version with its own migration,
 * never an edit here (Flask-Security's rule for its fsqla modules).
 *
 * Columns: the shared ones of UserBase (id, email, active, fs_uniquifier, confirmable, trackable,
 * two-factor, create/update datetimes, roles) plus, with their v1 options:
 * - username: varchar(255), nullable, not unique;
 * - password: varchar(255), NOT NULL.
 */
import { Column } from "typeorm";
import { IsNotEmpty, IsOptional, IsString, MaxLength } from "class-validator";
import { UserBase } from "./base";
import { varcharColumn } from "./columns";
import { Feature, Secret } from "../columns/tags";

/** Abstract base of an app's User entity at schema version 1 (fsqla v1). */
export abstract class UserMixinV1 extends UserBase {
  /** Optional sign-in name (Flask-Security's `SECURITY_USERNAME_ENABLE`); not unique in v1. */
  @Feature("none")
  @IsOptional()
  @MaxLength(255)
  @Column(varcharColumn("username", 255))
  username!: string | null;

  /** The password hash (never the password). Required in v1. Secret: never in `toJSON()`. */
  @Feature("core")
  @Secret()
  @IsString()
  @IsNotEmpty()
  @MaxLength(255)
  @Column(varcharColumn("password", 255, { nullable: false }))
  password!: string;
}
