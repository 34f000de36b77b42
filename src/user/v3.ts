/**
 * UserMixinV3: the `user` table of Flask-Security's fsqla v3 (`flask_security.models.fsqla_v3`) plus the
 * token uniquifier, with its `webauthn` credentials (WebAuthnMixinV1).
 *
 * FROZEN: this file is a released schema version. A new need is a new version with its own migration,
 * never an edit here.
 *
 * Differences from version 2:
 * - fs_webauthn_user_handle (varchar 64, unique) and the `webauthn` relation, for passkeys (SECURITY_WEBAUTHN);
 * - mf_recovery_codes (text, comma list) for SECURITY_MULTI_FACTOR_RECOVERY_CODES;
 * - password becomes nullable (a user may sign in with a passkey or a code only);
 * - us_phone_number becomes unique (it can sign in by sms, so it must name one user);
 * - the shipped migration also makes the database refuse two emails that differ only in letter case.
 */
import { Column, Index, OneToMany } from "typeorm";
import { IsNotEmpty, IsOptional, IsString, Length, Matches, MaxLength } from "class-validator";
import { UserSinceV2 } from "./since-v2";
import { E164, varcharColumn } from "./columns";
import { commaListTransformer } from "../lists";
import { newIdentityToken } from "../tokens";
import { IsCommaList } from "../validation";
import type { WebAuthnMixinV1 } from "../webauthn/v1";
import { Feature, Secret } from "../columns/tags";

/**
 * The unique index that the version 3 migration makes so that the database refuses two emails differing
 * only in letter case, and case-insensitive lookups use an index: on `lower(email)` on PostgreSQL, on
 * `email COLLATE NOCASE` on SQLite (MariaDB/MySQL: the email index's case-insensitive collation already does
 * it). TypeORM cannot declare either, so the entity only names it (synchronize: false), which keeps TypeORM
 * from dropping it.
 */
export const EMAIL_CASE_INSENSITIVE_INDEX = "IDX_security_email_ci";

/** Abstract base of an app's User entity at schema version 3 (fsqla v3 + token uniquifier). */
@Index(EMAIL_CASE_INSENSITIVE_INDEX, { synchronize: false })
export abstract class UserMixinV3 extends UserSinceV2 {
  /**
   * The password hash (never the password); null for a user without one (passkey or sms only), never `""`
   * (validation refuses it; as in V1 and V2, an empty string is no hash). Secret.
   */
  @Feature("core")
  @Secret()
  @IsOptional()
  @IsString()
  @IsNotEmpty({ message: "password must not be empty: a user without a password has null" })
  @MaxLength(255)
  @Column(varcharColumn("password", 255))
  password!: string | null;

  /** Phone number for unified sign in by sms, E.164 (`+16505550101`). Unique from v3 on. */
  @Feature("unifiedSignin", "sms")
  @IsOptional()
  @MaxLength(128)
  @Matches(E164, { message: "usPhoneNumber must be an E.164 phone number such as +16505550101" })
  @Index({ unique: true })
  @Column(varcharColumn("us_phone_number", 128))
  usPhoneNumber!: string | null;

  // ---- WebAuthn (SECURITY_WEBAUTHN) ----------------------------------------------------------------

  /**
   * The user's id as passkeys know it (WebAuthn's user handle): a random 64-hex token set on insert when
   * left unset, never the email or the database id. Unique. Secret: never in `toJSON()`.
   */
  @Feature("webauthn")
  @Secret()
  @IsOptional()
  @Length(1, 64)
  @Index({ unique: true })
  @Column(varcharColumn("fs_webauthn_user_handle", 64))
  fsWebauthnUserHandle!: string | null;

  /**
   * The user's passkeys and security keys. Targets the entity named `WebAuthn`; an app whose class has
   * another name redeclares it: `@OneToMany(() => Passkey, (p) => p.user) declare webauthn: Passkey[];`.
   * Saving a user with new credentials in it inserts them; removing one from a loaded list deletes it.
   */
  @OneToMany("WebAuthn", "user", { cascade: ["insert", "update"] })
  webauthn!: WebAuthnMixinV1[];

  // ---- Recovery codes (SECURITY_MULTI_FACTOR_RECOVERY_CODES) ---------------------------------------

  /** One-time codes that replace a lost second factor, as a comma list. Secret: never in `toJSON()`. */
  @Feature("recoveryCodes")
  @Secret()
  @IsCommaList()
  @Column({ name: "mf_recovery_codes", type: "text", nullable: true, transformer: commaListTransformer("User", "mfRecoveryCodes") })
  mfRecoveryCodes!: string[];

  protected override assignSecurityDefaults(): void {
    super.assignSecurityDefaults();
    if (!this.fsWebauthnUserHandle) this.fsWebauthnUserHandle = newIdentityToken();
  }
}
