/**
 * UserMixinV2: the `user` table of Flask-Security's fsqla v2 (`flask_security.models.fsqla_v2`) plus the
 * token uniquifier that Flask-Security's Models page lists under "Separate Identity Domains".
 *
 * FROZEN: this file is a released schema version. A new need is a new version with its own migration,
 * never an edit here.
 *
 * Differences from version 1:
 * - username becomes unique (still nullable);
 * - us_totp_secrets (text) and us_phone_number (varchar 128, not unique) for unified sign in;
 * - fs_token_uniquifier (varchar 64, unique, NOT NULL), absent from fsqla v2.
 */
import { Column } from "typeorm";
import { IsNotEmpty, IsOptional, IsString, Matches, MaxLength } from "class-validator";
import { UserSinceV2 } from "./since-v2";
import { E164, varcharColumn } from "./columns";
import { Feature, Secret } from "../columns/tags";

/** Abstract base of an app's User entity at schema version 2 (fsqla v2 + token uniquifier). */
export abstract class UserMixinV2 extends UserSinceV2 {
  /** The password hash (never the password). Required in v2. Secret: never in `toJSON()`. */
  @Feature("core")
  @Secret()
  @IsString()
  @IsNotEmpty()
  @MaxLength(255)
  @Column(varcharColumn("password", 255, { nullable: false }))
  password!: string;

  /** Phone number for unified sign in by sms, E.164 (`+16505550101`). Not unique in v2. */
  @Feature("unifiedSignin", "sms")
  @IsOptional()
  @MaxLength(128)
  @Matches(E164, { message: "usPhoneNumber must be an E.164 phone number such as +16505550101" })
  @Column(varcharColumn("us_phone_number", 128))
  usPhoneNumber!: string | null;
}
