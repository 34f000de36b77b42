/**
 * The same User and Role an app would write by hand, without the mixins: the same columns, types, indexes and
 * relation, in tables of their own (hand_user, hand_role, hand_roles_users). The baseline the mixin entities
 * are measured against.
 */
import { Column, CreateDateColumn, Entity, Index, JoinTable, ManyToMany, PrimaryGeneratedColumn, UpdateDateColumn } from "typeorm";

@Entity("hand_role")
export class HandRole {
  @PrimaryGeneratedColumn({ type: "integer" }) id!: number;
  @Index({ unique: true }) @Column({ type: "varchar", length: 80 }) name!: string;
  @Column({ type: "varchar", length: 255, nullable: true }) description!: string | null;
  @Column({
    type: "text",
    nullable: true,
    transformer: { to: (v?: string[] | null) => (v ? v.join(",") : v), from: (s: string | null) => (s ? s.split(",") : []) },
  })
  permissions!: string[];
  @UpdateDateColumn({ name: "update_datetime" }) updateDatetime!: Date;
}

@Entity("hand_user")
export class HandUser {
  @PrimaryGeneratedColumn({ type: "integer" }) id!: number;
  @Index({ unique: true }) @Column({ type: "varchar", length: 255 }) email!: string;
  @Column({ type: Boolean }) active!: boolean;
  @Index({ unique: true }) @Column({ name: "fs_uniquifier", type: "varchar", length: 64 }) fsUniquifier!: string;
  @Column({ name: "confirmed_at", type: Date, precision: 6, nullable: true }) confirmedAt!: Date | null;
  @Column({ name: "last_login_at", type: Date, precision: 6, nullable: true }) lastLoginAt!: Date | null;
  @Column({ name: "current_login_at", type: Date, precision: 6, nullable: true }) currentLoginAt!: Date | null;
  @Column({ name: "last_login_ip", type: "varchar", length: 64, nullable: true }) lastLoginIp!: string | null;
  @Column({ name: "current_login_ip", type: "varchar", length: 64, nullable: true }) currentLoginIp!: string | null;
  @Column({ name: "login_count", type: "integer", nullable: true }) loginCount!: number | null;
  @Column({ name: "tf_primary_method", type: "varchar", length: 64, nullable: true }) tfPrimaryMethod!: string | null;
  @Column({ name: "tf_totp_secret", type: "varchar", length: 255, nullable: true }) tfTotpSecret!: string | null;
  @Column({ name: "tf_phone_number", type: "varchar", length: 128, nullable: true }) tfPhoneNumber!: string | null;
  @CreateDateColumn({ name: "create_datetime" }) createDatetime!: Date;
  @UpdateDateColumn({ name: "update_datetime" }) updateDatetime!: Date;
  @Index({ unique: true }) @Column({ type: "varchar", length: 255, nullable: true }) username!: string | null;
  @Column({ name: "us_totp_secrets", type: "text", nullable: true }) usTotpSecrets!: string | null;
  @Index({ unique: true }) @Column({ name: "fs_token_uniquifier", type: "varchar", length: 64 }) fsTokenUniquifier!: string;
  @Column({ type: "varchar", length: 255 }) password!: string;
  @Column({ name: "us_phone_number", type: "varchar", length: 128, nullable: true }) usPhoneNumber!: string | null;
  @ManyToMany(() => HandRole)
  @JoinTable({ name: "hand_roles_users", joinColumn: { name: "user_id" }, inverseJoinColumn: { name: "role_id" } })
  roles!: HandRole[];
}
