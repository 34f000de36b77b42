/**
 * UserSinceV2: the columns fsqla v2 added that keep their options in every later version, plus the token
 * uniquifier. Shared by UserMixinV2 and later versions; not exported from the package root.
 *
 * FROZEN as part of every released version from v2 on.
 */
import { Column, Index } from "typeorm";
import { IsOptional, Length, MaxLength } from "class-validator";
import { UserBase } from "./base";
import { varcharColumn } from "./columns";
import { newIdentityToken } from "../tokens";
import { Feature, Secret } from "../columns/tags";

export abstract class UserSinceV2 extends UserBase {
  // ---- Username (unique from v2 on) ----------------------------------------------------------------

  /** Optional sign-in name (Flask-Security's `SECURITY_USERNAME_ENABLE`); unique from v2 on, null allowed. */
  @Feature("none")
  @IsOptional()
  @MaxLength(255)
  @Index({ unique: true })
  @Column(varcharColumn("username", 255))
  username!: string | null;

  // ---- Unified sign in (SECURITY_UNIFIED_SIGNIN) ---------------------------------------------------

  /** The encrypted TOTP secrets of unified sign in, a JSON object by method. Secret: never in `toJSON()`. */
  @Feature("unifiedSignin")
  @Secret()
  @IsOptional()
  @Column({ name: "us_totp_secrets", type: "text", nullable: true })
  usTotpSecrets!: string | null;

  // ---- Separate identity domains -------------------------------------------------------------------

  /**
   * Token identity: auth tokens carry it instead of `fs_uniquifier`, so rotating it invalidates tokens
   * without ending sessions. Unique; a random 64-hex token is set on insert when left unset. Not in any
   * fsqla version: a Flask-Security app sharing the table declares the column in its own model. Secret.
   */
  @Feature("tokenIdentity")
  @Secret()
  @IsOptional()
  @Length(1, 64)
  @Index({ unique: true })
  @Column(varcharColumn("fs_token_uniquifier", 64, { nullable: false }))
  fsTokenUniquifier!: string;

  protected override assignSecurityDefaults(): void {
    super.assignSecurityDefaults();
    if (!this.fsTokenUniquifier) this.fsTokenUniquifier = newIdentityToken();
  }

  /** Signs the user out everywhere: new session and token identities. Save to apply. */
  override rotateUniquifier(): void {
    super.rotateUniquifier();
    this.rotateTokenUniquifier();
  }

  /** Invalidates the user's auth tokens only; sessions stay. Save to apply. */
  rotateTokenUniquifier(): void {
    this.fsTokenUniquifier = newIdentityToken();
  }
}
