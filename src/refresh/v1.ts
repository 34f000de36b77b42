/**
 * RefreshTrackerMixinV1: the `fs_refresh_tracker` table of Flask-Security's fsqla v4
 * (`flask_security.models.fsqla_v4`, Flask-Security 5.9), one row per refresh-token family a user holds
 * (SECURITY_REFRESH_TOKEN).
 *
 * FROZEN: this file is a released schema version (from schema version 4). A new need is a new version with
 * its own migration, never an edit here.
 *
 * A refresh token names its tracker by `refresh_family` and carries the generation `gen` it was issued at;
 * each exchange moves `gen` on by one, so a token presented at an older generation is a reused one. Columns
 * as fsqla v4: id, refresh_family (varchar 64, unique, not null), gen (integer, nullable as fsqla declares
 * it, 1 on insert), expires_at, revoked_at (null until revoked), last_used_at, create_datetime, name
 * (varchar 64), user_id (ON DELETE CASCADE: deleting a user deletes its trackers). Plus an index on user_id,
 * which Flask-Security does not make, so that a user's reset and cleanup and the cascade do not scan the
 * table.
 */
import { BeforeInsert, Column, CreateDateColumn, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from "typeorm";
import { IsDate, IsInt, IsNotEmpty, IsOptional, Length, MaxLength, Min } from "class-validator";
import { datetimeColumn, varcharColumn } from "../user/columns";
import { newIdentityToken } from "../tokens";
import type { UserBase } from "../user/base";
import { Feature, Secret, secretPropertiesOf } from "../columns/tags";

/**
 * Abstract base of an app's refresh tracker entity: `@Entity() class FsRefreshTracker extends RefreshTrackerMixinV1 {}`,
 * the class name fsqla v4's relation names, which gives the table Flask-Security's name `fs_refresh_tracker`
 * (TypeORM's default naming, as Flask-SQLAlchemy's). Its `user` relation targets the entity named `User`; an
 * app whose user class has another name redeclares it, keeping the cascade:
 * `@ManyToOne(() => Account, (a) => a.refreshTrackers, { onDelete: "CASCADE" }) declare user: Account;`.
 */
export abstract class RefreshTrackerMixinV1 {
  /**
   * Properties `toJSON()` never emits: whoever holds the family (and a generation) can present it as a
   * refresh token's claim.
   */
  static secretProperties: readonly string[] = ["refreshFamily"];

  /** Primary key. */
  @Feature("refreshToken")
  @PrimaryGeneratedColumn({ name: "id", type: "integer" })
  id!: number;

  /**
   * The family every refresh token of this tracker names: 64 hex characters from the operating system's
   * cryptographic source, set on insert when left unset. Unique. Secret: never in `toJSON()`.
   */
  @Feature("refreshToken")
  @Secret()
  @IsOptional()
  @Length(1, 64)
  @Index({ unique: true })
  @Column(varcharColumn("refresh_family", 64, { nullable: false }))
  refreshFamily!: string;

  /** The generation of the family's only valid refresh token; 1 on insert, one more at each exchange. */
  @Feature("refreshToken")
  @IsOptional()
  @IsInt()
  @Min(1)
  @Column({ name: "gen", type: "integer", nullable: true })
  gen!: number | null;

  /** When the family stops being exchangeable (naive UTC); an exchange does not move it. */
  @Feature("refreshToken")
  @IsDate()
  @Column({ ...datetimeColumn("expires_at"), nullable: false })
  expiresAt!: Date;

  /** When the family was revoked (reset, sign-out, reuse detected); null while it is valid. */
  @Feature("refreshToken")
  @IsOptional()
  @IsDate()
  @Column(datetimeColumn("revoked_at"))
  revokedAt!: Date | null;

  /** When the family was created or last exchanged; the insert time when left unset. */
  @Feature("refreshToken")
  @IsOptional()
  @IsDate()
  @Column({ ...datetimeColumn("last_used_at"), nullable: false })
  lastUsedAt!: Date;

  /** When the tracker was created (database default, naive UTC). */
  @Feature("refreshToken")
  @CreateDateColumn({ name: "create_datetime" })
  createDatetime!: Date;

  /** A name the app gives the family (the device or client it was issued to). */
  @Feature("refreshToken")
  @IsNotEmpty()
  @MaxLength(64)
  @Column(varcharColumn("name", 64, { nullable: false }))
  name!: string;

  /** The owner's id; indexed. */
  @Feature("refreshToken")
  @Index()
  @Column({ name: "user_id", type: "integer", nullable: false })
  userId!: number;

  /** The owner. Deleting the user deletes its trackers (ON DELETE CASCADE). */
  @ManyToOne("User", "refreshTrackers", { onDelete: "CASCADE", nullable: false })
  @JoinColumn({ name: "user_id", referencedColumnName: "id" })
  user!: UserBase;

  /** Fills what a new tracker needs and the app left unset: a random family, `gen = 1`, `last_used_at = now`. */
  @BeforeInsert()
  protected assignTrackerDefaults(): void {
    if (!this.refreshFamily) this.refreshFamily = newIdentityToken();
    if (this.gen === undefined || this.gen === null) this.gen = 1;
    if (!this.lastUsedAt) this.lastUsedAt = new Date();
  }

  /** Whether the tracker is revoked or expired at `now` (no database read: reload it for a current answer). */
  isUsable(now: Date = new Date()): boolean {
    return this.revokedAt === null && this.expiresAt.getTime() > now.getTime();
  }

  /** The tracker as JSON without its family. */
  toJSON(): Record<string, unknown> {
    const secret = new Set([
      ...secretPropertiesOf(this.constructor),
      ...(this.constructor as typeof RefreshTrackerMixinV1).secretProperties,
    ]);
    return Object.fromEntries(Object.entries(this).filter(([key]) => !secret.has(key)));
  }
}
