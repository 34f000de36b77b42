/**
 * The interop suite's apps, one per schema version: plain mixin entities plus one column of the app's own
 * (`name`), which the Flask-Security side declares too (`--extra-column`), as real apps do. Adding a version
 * is one more row in VERSIONS.
 */
import { Column, Entity, ManyToMany, ManyToOne, OneToMany, TableColumn } from "typeorm";
import type { MigrationInterface, QueryRunner, Relation } from "typeorm";
import { RoleMixinV1, UserMixinV1, UserMixinV2, UserMixinV3, WebAuthnMixinV1 } from "../../../src";
import { migrationsUpTo } from "../../../src/versions";
import type { SchemaVersion } from "../../../src/versions";

@Entity("role")
export class RoleV1 extends RoleMixinV1 {}

@Entity("user")
export class UserV1 extends UserMixinV1 {
  @ManyToMany(() => RoleV1) declare roles: RoleV1[];
  /** The app's own column. */
  @Column({ name: "name", type: "varchar", length: 80, nullable: true }) name!: string | null;
}

@Entity("role")
export class RoleV2 extends RoleMixinV1 {}

@Entity("user")
export class UserV2 extends UserMixinV2 {
  @ManyToMany(() => RoleV2) declare roles: RoleV2[];
  /** The app's own column. */
  @Column({ name: "name", type: "varchar", length: 80, nullable: true }) name!: string | null;
}

@Entity("role")
export class RoleV3 extends RoleMixinV1 {}

@Entity("web_authn")
export class WebAuthnV3 extends WebAuthnMixinV1 {
  @ManyToOne(() => UserV3, (user) => user.webauthn, { onDelete: "CASCADE", nullable: false }) declare user: Relation<UserV3>;
}

@Entity("user")
export class UserV3 extends UserMixinV3 {
  @ManyToMany(() => RoleV3) declare roles: RoleV3[];
  @OneToMany(() => WebAuthnV3, (credential) => credential.user) declare webauthn: WebAuthnV3[];
  /** The app's own column. */
  @Column({ name: "name", type: "varchar", length: 80, nullable: true }) name!: string | null;
}

/** The app's own migration adding its `name` column, after the shipped ones. */
export class AppUserName1900000000000 implements MigrationInterface {
  name = "AppUserName1900000000000";
  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn("user", new TableColumn({ name: "name", type: "varchar", length: "80", isNullable: true }));
  }
  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn("user", "name");
  }
}

/** One schema version: our entities, the shipped migrations up to it, and how Flask-Security's side runs. */
export interface InteropVersion {
  version: SchemaVersion;
  User: typeof UserV1 | typeof UserV2 | typeof UserV3;
  Role: typeof RoleV1;
  /** The WebAuthn entity, from version 3 on. */
  WebAuthn?: typeof WebAuthnV3;
  /** Every entity of the app. */
  entities: Function[];
  /** The shipped migrations that build this version, then the app's own. */
  migrations: Function[];
  /** Flask-Security's model needs the README's fs_token_uniquifier line (our V2 and later have the column). */
  tokenUniquifier: boolean;
}

export const VERSIONS: InteropVersion[] = [
  {
    version: 1,
    User: UserV1,
    Role: RoleV1,
    entities: [UserV1, RoleV1],
    migrations: [...migrationsUpTo(1), AppUserName1900000000000],
    tokenUniquifier: false,
  },
  {
    version: 2,
    User: UserV2,
    Role: RoleV2,
    entities: [UserV2, RoleV2],
    migrations: [...migrationsUpTo(2), AppUserName1900000000000],
    tokenUniquifier: true,
  },
  {
    version: 3,
    User: UserV3,
    Role: RoleV3,
    WebAuthn: WebAuthnV3,
    entities: [UserV3, RoleV3, WebAuthnV3],
    migrations: [...migrationsUpTo(3), AppUserName1900000000000],
    tokenUniquifier: true,
  },
];
