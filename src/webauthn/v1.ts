/**
 * WebAuthnMixinV1: the `web_authn` table of Flask-Security's fsqla v3 (`flask_security.models.fsqla_v3`),
 * one row per passkey or security key a user registered (SECURITY_WEBAUTHN).
 *
 * FROZEN: this file is a released schema version (from schema version 3). A new need is a new version with
 * its own migration, never an edit here.
 *
 * Columns as fsqla v3: credential_id (unique binary, 1024 bytes), public_key, sign_count, transports (comma
 * list), backup_state, device_type, extensions, create_datetime, lastuse_datetime, name, usage, and user_id
 * (ON DELETE CASCADE: deleting a user deletes its credentials). Plus an index on user_id, which
 * Flask-Security does not make, so that loading a user's credentials and the cascade do not scan the table.
 */
import { BeforeInsert, Column, CreateDateColumn, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import { IsBoolean, IsDate, IsIn, IsInt, IsNotEmpty, IsOptional, MaxLength, Min } from "class-validator";
import { commaListTransformer } from "../lists";
import { IsBinary, IsCommaList } from "../validation";
import { datetimeColumn, varcharColumn } from "../user/columns";
import { BinaryColumn, BLOB, VARBINARY_1024 } from "./binary-types";
import type { UserBase } from "../user/base";
import { Feature } from "../columns/tags";

/** How a credential may be used, as Flask-Security records it. */
export type WebAuthnUsage = "first" | "secondary";

/**
 * Abstract base of an app's WebAuthn entity: `@Entity() class WebAuthn extends WebAuthnMixinV1 {}`. Its
 * `user` relation targets the entity named `User`; an app whose user class has another name redeclares it,
 * keeping the cascade: `@ManyToOne(() => Account, (a) => a.webauthn, { onDelete: "CASCADE" }) declare user: Account;`.
 */
export abstract class WebAuthnMixinV1 {
  /** Primary key. */
  @Feature("webauthn")
  @PrimaryGeneratedColumn({ name: "id", type: "integer" })
  id!: number;

  /**
   * The credential's id as the authenticator gave it (raw bytes, at most 1024). Unique: a sign-in assertion
   * names it, and it must lead to exactly one user.
   */
  @Feature("webauthn")
  @IsBinary(1024)
  @Index({ unique: true })
  @BinaryColumn("credential_id", VARBINARY_1024)
  credentialId!: Buffer;

  /** The credential's public key (COSE, raw bytes): what verifies each sign-in assertion. */
  @Feature("webauthn")
  @IsBinary(65535)
  @BinaryColumn("public_key", BLOB)
  publicKey!: Buffer;

  /** The authenticator's signature counter at the last sign-in; a counter that goes back signals a cloned key. 0 on insert when left unset. */
  @Feature("webauthn")
  @IsOptional()
  @IsInt()
  @Min(0)
  @Column({ name: "sign_count", type: "integer", nullable: true })
  signCount!: number | null;

  /** How the browser can reach the authenticator (`usb`, `nfc`, `ble`, `internal`, `hybrid`), stored as a comma list. */
  @Feature("webauthn")
  @IsCommaList()
  @Column({ name: "transports", type: "text", nullable: true, transformer: commaListTransformer("WebAuthn", "transports") })
  transports!: string[];

  /** Whether the credential is backed up (synced passkey), as the authenticator reported at registration. */
  @Feature("webauthn")
  @IsBoolean()
  @Column({ name: "backup_state", type: Boolean, nullable: false })
  backupState!: boolean;

  /** `single_device` or `multi_device` (whether the credential can leave the authenticator). */
  @Feature("webauthn")
  @IsNotEmpty()
  @MaxLength(64)
  @Column(varcharColumn("device_type", 64, { nullable: false }))
  deviceType!: string;

  /** The client extension outputs given at registration, as Flask-Security stores them (JSON text). */
  @Feature("webauthn")
  @IsOptional()
  @MaxLength(255)
  @Column(varcharColumn("extensions", 255))
  extensions!: string | null;

  /** When the credential was registered (database default, naive UTC). */
  @Feature("webauthn")
  @CreateDateColumn({ name: "create_datetime" })
  createDatetime!: Date;

  /** When the credential was last used to sign in; the registration time on insert when left unset. */
  @Feature("webauthn")
  @IsOptional()
  @IsDate()
  @Column({ ...datetimeColumn("lastuse_datetime"), nullable: false })
  lastuseDatetime!: Date;

  /** The name the user gave the credential ("laptop"), unique per user in Flask-Security's forms. */
  @Feature("webauthn")
  @IsNotEmpty()
  @MaxLength(64)
  @Column(varcharColumn("name", 64, { nullable: false }))
  name!: string;

  /** `first` (signs in alone, a passkey) or `secondary` (a second factor). */
  @Feature("webauthn")
  @IsIn(["first", "secondary"], { message: "usage must be first or secondary" })
  @Column(varcharColumn("usage", 64, { nullable: false }))
  usage!: WebAuthnUsage;

  /** The owner's id (Flask-Security's `get_user_mapping()`); indexed. */
  @Feature("webauthn")
  @Index()
  @Column({ name: "user_id", type: "integer", nullable: false })
  userId!: number;

  /** The owner. Deleting the user deletes its credentials (ON DELETE CASCADE). */
  @ManyToOne("User", "webauthn", { onDelete: "CASCADE", nullable: false, orphanedRowAction: "delete" })
  @JoinColumn({ name: "user_id", referencedColumnName: "id" })
  user!: UserBase;

  /** Fills what a new credential needs and the app left unset: `sign_count = 0`, `lastuse_datetime = now`. */
  @BeforeInsert()
  protected assignCredentialDefaults(): void {
    if (this.signCount === undefined || this.signCount === null) this.signCount = 0;
    if (!this.lastuseDatetime) this.lastuseDatetime = new Date();
  }

  /** What identifies the owner to Flask-Security's WebAuthn views (`get_user_mapping`). */
  getUserMapping(): { id: number } {
    return { id: this.userId };
  }
}
