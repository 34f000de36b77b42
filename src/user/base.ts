/**
 * UserBase: the columns every user version shares with its final options, and the behaviour of
 * Flask-Security's UserMixin. Not exported from the package root: apps extend a versioned mixin
 * (UserMixinV1, UserMixinV2), never this class.
 *
 * FROZEN as part of every released version: a column here must keep its options in all versions, so a
 * column whose options differ between versions (password, username, us_phone_number) lives in the version
 * files instead (TypeORM ignores a subclass's re-declaration of an inherited column).
 */
import {
  AfterInsert,
  AfterUpdate,
  BeforeInsert,
  Column,
  CreateDateColumn,
  Index,
  JoinTable,
  ManyToMany,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from "typeorm";
import { IsBoolean, IsDate, IsInt, IsOptional, Length, Matches, MaxLength, Min } from "class-validator";
import { RolesNotLoadedError } from "../errors";
import { IsEmailAddress } from "../validation";
import { newIdentityToken } from "../tokens";
import type { RoleMixinV1 } from "../role/v1";
import { datetimeColumn, E164, varcharColumn } from "./columns";
import type { PasswordHasher } from "../password/hasher";
import { passwordNeedsSave, passwordSaved, setUserPassword, verifyAndUpdateUserPassword } from "../password/user-passwords";
import { Feature, Secret, SECRET_PROPERTIES, secretPropertiesOf } from "../columns/tags";

export abstract class UserBase {
  /**
   * The identity attributes `calcUsername()` tries in order, as Flask-Security's
   * `SECURITY_USER_IDENTITY_ATTRIBUTES`. An app that signs in by username sets
   * `static identityAttributes = ["email", "username"]` on its User class.
   */
  static identityAttributes: readonly string[] = ["email"];

  /**
   * Properties `toJSON()` never emits besides those tagged `@Secret()`: by default every secret property of
   * every version. An app with secret columns of its own extends the list:
   * `static secretProperties = [...UserMixinV2.secretProperties, "apiKey"]`.
   */
  static secretProperties: readonly string[] = SECRET_PROPERTIES;

  // ---- Always needed (Flask-Security's core) -------------------------------------------------------

  /** Primary key; the target of `roles_users.user_id`. */
  @Feature("none")
  @PrimaryGeneratedColumn({ name: "id", type: "integer" })
  id!: number;

  /** Sign-in identity and where mail goes. Unique; the datastore compares it case-insensitively. */
  @Feature("core")
  @IsEmailAddress({ message: "email must be an email address" })
  @MaxLength(255)
  @Index({ unique: true })
  @Column(varcharColumn("email", 255, { nullable: false }))
  email!: string;

  /** Whether the user may sign in; deactivating keeps the row. Set to `true` on insert when left unset. */
  @Feature("core")
  @IsOptional()
  @IsBoolean()
  @Column({ name: "active", type: Boolean })
  active!: boolean;

  /**
   * Session identity: session cookies carry it, so rotating it signs the user out everywhere. Unique; a
   * random 64-hex token is set on insert when left unset. Secret: never in `toJSON()`.
   */
  @Feature("core")
  @Secret()
  @IsOptional()
  @Length(1, 64)
  @Index({ unique: true })
  @Column(varcharColumn("fs_uniquifier", 64, { nullable: false }))
  fsUniquifier!: string;

  // ---- Confirmable (SECURITY_CONFIRMABLE) ----------------------------------------------------------

  /** When the user confirmed their email address; null until then. */
  @Feature("confirmable")
  @IsOptional()
  @IsDate()
  @Column(datetimeColumn("confirmed_at"))
  confirmedAt!: Date | null;

  // ---- Trackable (SECURITY_TRACKABLE) --------------------------------------------------------------

  /** Start of the sign-in before the current one. */
  @Feature("trackable")
  @IsOptional()
  @IsDate()
  @Column(datetimeColumn("last_login_at"))
  lastLoginAt!: Date | null;

  /** Start of the current (latest) sign-in. */
  @Feature("trackable")
  @IsOptional()
  @IsDate()
  @Column(datetimeColumn("current_login_at"))
  currentLoginAt!: Date | null;

  /** Client address of the sign-in before the current one. */
  @Feature("trackable")
  @IsOptional()
  @MaxLength(64)
  @Column(varcharColumn("last_login_ip", 64))
  lastLoginIp!: string | null;

  /** Client address of the current (latest) sign-in. */
  @Feature("trackable")
  @IsOptional()
  @MaxLength(64)
  @Column(varcharColumn("current_login_ip", 64))
  currentLoginIp!: string | null;

  /** How many times the user signed in. */
  @Feature("trackable")
  @IsOptional()
  @IsInt()
  @Min(0)
  @Column({ name: "login_count", type: "integer", nullable: true })
  loginCount!: number | null;

  // ---- Two-factor (SECURITY_TWO_FACTOR) ------------------------------------------------------------

  /** The second factor the user chose: `email`, `authenticator` or `sms`. */
  @Feature("twoFactor")
  @IsOptional()
  @MaxLength(64)
  @Column(varcharColumn("tf_primary_method", 64))
  tfPrimaryMethod!: string | null;

  /** The encrypted TOTP secret of the second factor. Secret: never in `toJSON()`. */
  @Feature("twoFactor")
  @Secret()
  @IsOptional()
  @MaxLength(255)
  @Column(varcharColumn("tf_totp_secret", 255))
  tfTotpSecret!: string | null;

  /** Phone number for the sms second factor, E.164 (`+16505550101`). */
  @Feature("twoFactor", "sms")
  @IsOptional()
  @MaxLength(128)
  @Matches(E164, { message: "tfPhoneNumber must be an E.164 phone number such as +16505550101" })
  @Column(varcharColumn("tf_phone_number", 128))
  tfPhoneNumber!: string | null;

  // ---- Bookkeeping ---------------------------------------------------------------------------------

  /** When the row was created (database default, naive UTC). */
  @Feature("none")
  @CreateDateColumn({ name: "create_datetime" })
  createDatetime!: Date;

  /** When the row last changed; set on every save. */
  @Feature("none")
  @UpdateDateColumn({ name: "update_datetime" })
  updateDatetime!: Date;

  // ---- Roles ---------------------------------------------------------------------------------------

  /**
   * The user's roles, through `roles_users` (composite primary key, both foreign keys ON DELETE CASCADE).
   * Targets the entity named `Role`; an app whose role class has another name redeclares it in one line:
   * `@ManyToMany(() => Group) declare roles: Group[];`. Load it (`relations: { roles: true }`) before
   * calling `hasRole` or `hasPermission`.
   */
  @ManyToMany("Role")
  @JoinTable({
    name: "roles_users",
    joinColumn: { name: "user_id", referencedColumnName: "id" },
    inverseJoinColumn: { name: "role_id", referencedColumnName: "id" },
  })
  roles!: RoleMixinV1[];

  // ---- Behaviour -----------------------------------------------------------------------------------

  /**
   * Fills what a new user needs and the app left unset: `active = true` and fresh random identity tokens.
   * Runs before TypeORM inserts the entity (`save`); `repository.insert()` skips entity listeners, so use
   * `save` or the datastore.
   */
  @BeforeInsert()
  protected assignSecurityDefaults(): void {
    if (this.active === undefined || this.active === null) this.active = true;
    if (!this.fsUniquifier) this.fsUniquifier = newIdentityToken();
  }

  /** Signs the user out everywhere: a new `fs_uniquifier` invalidates every session. Save to apply. */
  rotateUniquifier(): void {
    this.fsUniquifier = newIdentityToken();
  }

  /**
   * Claims to put in the app's session or token. `{}` by default; apps override it and call
   * `super.getSecurityPayload()`. Must not return secrets.
   */
  getSecurityPayload(): Record<string, unknown> {
    return {};
  }

  /**
   * The name to show for the user: the first non-empty of `identityAttributes` (email by default), or
   * `""` (Flask-Security's `calc_username`).
   */
  calcUsername(): string {
    const attributes = (this.constructor as typeof UserBase).identityAttributes;
    for (const attribute of attributes) {
      const value = (this as Record<string, unknown>)[attribute];
      if ((typeof value === "string" || typeof value === "number") && String(value) !== "") return String(value);
    }
    return "";
  }

  /**
   * Whether the user holds the role, given by name or as a role entity (compared by name).
   * @throws RolesNotLoadedError when `roles` was not loaded: a silent "no" could let a ban check pass.
   */
  hasRole(role: string | RoleMixinV1): boolean {
    const name = typeof role === "string" ? role : role.name;
    return this.loadedRoles("hasRole").some((held) => held.name === name);
  }

  /**
   * Whether any of the user's roles grants the permission.
   * @throws RolesNotLoadedError when `roles` was not loaded.
   */
  hasPermission(permission: string): boolean {
    return this.loadedRoles("hasPermission").some((held) => (held.permissions ?? []).includes(permission));
  }

  /** The user as JSON without secrets (password hash, TOTP secrets, recovery codes, uniquifiers). */
  toJSON(): Record<string, unknown> {
    const secret = new Set([...secretPropertiesOf(this.constructor), ...(this.constructor as typeof UserBase).secretProperties]);
    const json: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(this)) {
      if (!secret.has(key)) json[key] = value;
    }
    return json;
  }

  private loadedRoles(method: string): RoleMixinV1[] {
    if (!Array.isArray(this.roles)) {
      throw new RolesNotLoadedError(
        this.constructor.name,
        "roles",
        "roles-not-loaded",
        `${method}() needs the roles relation loaded; query with relations: { roles: true }`,
      );
    }
    return this.roles;
  }

  // ---- Passwords (see src/password) -----------------------------------------------------------------

  /**
   * The hasher `setPassword` and `verifyAndUpdatePassword` use when none is passed. Set it once at start-up
   * with the Flask-Security app's settings: `User.passwordHasher = new PasswordHasher({ salt })`.
   */
  static passwordHasher?: PasswordHasher;

  /**
   * Stores a hash of `plain` in `password`, as Flask-Security's `hash_password`; save the user to apply.
   * Signs no one out: on a password change or reset call `rotateUniquifier()` too, as Flask-Security does.
   * @throws InvalidPasswordError for an empty password; PasswordHasherMissingError without a hasher.
   */
  async setPassword(plain: string, hasher?: PasswordHasher): Promise<void> {
    await setUserPassword(this, plain, hasher);
  }

  /**
   * Whether `plain` is the user's password (false for a user without one). When it is and the stored hash
   * is outdated (another scheme, or below the configured cost), `password` gets a fresh hash and
   * `passwordNeedsSave` turns true: save the user then (Flask-Security's `verify_and_update_password`).
   */
  async verifyAndUpdatePassword(plain: string, hasher?: PasswordHasher): Promise<boolean> {
    return verifyAndUpdateUserPassword(this, plain, hasher);
  }

  /** Whether `password` was set or upgraded on this object and not saved since. */
  get passwordNeedsSave(): boolean {
    return passwordNeedsSave(this);
  }

  @AfterInsert()
  @AfterUpdate()
  protected forgetSavedPasswordChange(): void {
    passwordSaved(this);
  }
}
