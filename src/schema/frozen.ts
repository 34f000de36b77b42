/**
 * The released schema versions as TypeORM metadata, built from the frozen mixin classes with the app's table
 * names, naming strategy and driver. Migrations take their column types and index names from here, so
 * the tables they make are exactly what TypeORM expects of an entity of that version: zero drift, on every
 * database and with any naming strategy.
 */
import { Entity, EntityMetadata, ManyToMany, ManyToOne, OneToMany } from "typeorm";
import type { DataSource } from "typeorm";
import { ConnectionMetadataBuilder } from "typeorm/connection/ConnectionMetadataBuilder";
import { RoleMixinV1 } from "../role/v1";
import { UserMixinV1 } from "../user/v1";
import { UserMixinV2 } from "../user/v2";
import { UserMixinV3 } from "../user/v3";
import { UserMixinV4 } from "../user/v4";
import { WebAuthnMixinV1 } from "../webauthn/v1";
import { RefreshTrackerMixinV1 } from "../refresh/v1";
import type { SecurityTableNames } from "./app-tables";

/** The user mixin of each released schema version. */
const USER_MIXINS = { 1: UserMixinV1, 2: UserMixinV2, 3: UserMixinV3, 4: UserMixinV4 } as const;
export type SchemaVersion = keyof typeof USER_MIXINS;

/** One version's tables as metadata. */
export interface FrozenSchema {
  user: EntityMetadata;
  role: EntityMetadata;
  links: EntityMetadata;
  /** The `web_authn` table, from version 3 on. */
  webauthn?: EntityMetadata;
  /** The `fs_refresh_tracker` table, from version 4 on. */
  refreshTrackers?: EntityMetadata;
}

const entityCache = new Map<string, Function[]>();

/** Concrete entity classes of `version` in the app's tables (made once per version and names). */
function frozenEntities(version: SchemaVersion, names: SecurityTableNames): Function[] {
  const key = `${version}:${names.user}:${names.role}:${names.webauthn}:${names.refreshTrackers}:${names.schema ?? ""}`;
  let entities = entityCache.get(key);
  if (!entities) {
    const { schema } = names;
    @Entity({ name: names.role, schema })
    class FrozenRole extends RoleMixinV1 {}
    if (version === 4) {
      @Entity({ name: names.user, schema })
      class FrozenUser extends UserMixinV4 {
        @ManyToMany(() => FrozenRole) declare roles: FrozenRole[];
        @OneToMany(() => FrozenWebAuthn, (credential) => credential.user) declare webauthn: FrozenWebAuthn[];
        @OneToMany(() => FrozenRefreshTracker, (tracker) => tracker.user) declare refreshTrackers: FrozenRefreshTracker[];
      }
      @Entity({ name: names.webauthn, schema })
      class FrozenWebAuthn extends WebAuthnMixinV1 {
        @ManyToOne(() => FrozenUser, (user) => user.webauthn, { onDelete: "CASCADE", nullable: false }) declare user: FrozenUser;
      }
      @Entity({ name: names.refreshTrackers, schema })
      class FrozenRefreshTracker extends RefreshTrackerMixinV1 {
        @ManyToOne(() => FrozenUser, (user) => user.refreshTrackers, { onDelete: "CASCADE", nullable: false }) declare user: FrozenUser;
      }
      entities = [FrozenUser, FrozenRole, FrozenWebAuthn, FrozenRefreshTracker];
    } else if (version === 3) {
      @Entity({ name: names.user, schema })
      class FrozenUser extends UserMixinV3 {
        @ManyToMany(() => FrozenRole) declare roles: FrozenRole[];
        @OneToMany(() => FrozenWebAuthn, (credential) => credential.user) declare webauthn: FrozenWebAuthn[];
      }
      @Entity({ name: names.webauthn, schema })
      class FrozenWebAuthn extends WebAuthnMixinV1 {
        @ManyToOne(() => FrozenUser, (user) => user.webauthn, { onDelete: "CASCADE", nullable: false }) declare user: FrozenUser;
      }
      entities = [FrozenUser, FrozenRole, FrozenWebAuthn];
    } else {
      const Mixin = USER_MIXINS[version];
      @Entity({ name: names.user, schema })
      class FrozenUser extends Mixin {
        @ManyToMany(() => FrozenRole) declare roles: FrozenRole[];
      }
      entities = [FrozenUser, FrozenRole];
    }
    entityCache.set(key, entities);
  }
  return entities;
}

/** The metadata of schema `version` with the app's table names, naming strategy and driver. */
export async function frozenSchema(connection: DataSource, version: SchemaVersion, names: SecurityTableNames): Promise<FrozenSchema> {
  const entities = frozenEntities(version, names);
  const [FrozenUser, FrozenRole, FrozenWebAuthn, FrozenRefreshTracker] = entities;
  const metadatas = await new ConnectionMetadataBuilder(connection).buildEntityMetadatas(entities);
  const user = metadatas.find((m) => m.target === FrozenUser)!;
  const role = metadatas.find((m) => m.target === FrozenRole)!;
  const links = metadatas.find((m) => m.isJunction)!;
  const webauthn = FrozenWebAuthn && metadatas.find((m) => m.target === FrozenWebAuthn);
  const refreshTrackers = FrozenRefreshTracker && metadatas.find((m) => m.target === FrozenRefreshTracker);
  return { user, role, links, webauthn, refreshTrackers };
}
