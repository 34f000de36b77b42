/**
 * The released schema versions as TypeORM metadata, built from the frozen mixin classes of each version's row
 * (`src/versions.ts`) with the app's table names, naming strategy and driver. Migrations take their column
 * types and index names from here, so the tables they make are exactly what TypeORM expects of an entity of
 * that version: zero drift, on every database and with any naming strategy.
 */
import { Entity, EntityMetadata, ManyToMany, ManyToOne, OneToMany } from "typeorm";
import type { DataSource } from "typeorm";
import { ConnectionMetadataBuilder } from "typeorm/connection/ConnectionMetadataBuilder";
import { schemaVersion } from "../versions";
import type { SchemaVersion, UserChildTableKey } from "../versions";
import type { SecurityTableNames } from "./app-tables";

export type { SchemaVersion } from "../versions";

/** One version's tables as metadata. */
export type FrozenSchema = {
  user: EntityMetadata;
  role: EntityMetadata;
  links: EntityMetadata;
  /** Every table of the version, parents first: role, user, the user's child tables, links. */
  tables: EntityMetadata[];
} & {
  /** The user's child tables the version has (`webauthn` from version 3 on). */
  [key in UserChildTableKey]?: EntityMetadata;
};

interface FrozenEntities {
  user: Function;
  role: Function;
  children: Array<{ key: UserChildTableKey; entity: Function }>;
}

const entityCache = new Map<string, FrozenEntities>();

/** Concrete entity classes of `version` in the app's tables (made once per version and names). */
function frozenEntities(version: SchemaVersion, names: SecurityTableNames): FrozenEntities {
  const key = `${version}:${Object.values(names).join(":")}`;
  let entities = entityCache.get(key);
  if (!entities) {
    const { schema } = names;
    const row = schemaVersion(version);
    @Entity({ name: names.role, schema })
    class FrozenRole extends row.role {}
    @Entity({ name: names.user, schema })
    class FrozenUser extends row.user {
      @ManyToMany(() => FrozenRole) declare roles: FrozenRole[];
    }
    const children = row.children.map((child) => {
      class FrozenChild extends child.mixin {
        declare user: FrozenUser;
      }
      Object.defineProperty(FrozenChild, "name", { value: `Frozen${child.mixin.name}` });
      ManyToOne(
        () => FrozenUser,
        (user) => (user as unknown as Record<string, unknown>)[child.userProperty],
        {
          onDelete: "CASCADE",
          nullable: false,
        },
      )(FrozenChild.prototype, "user");
      OneToMany(
        () => FrozenChild,
        (owned) => owned.user,
      )(FrozenUser.prototype, child.userProperty);
      Entity({ name: names[child.key], schema })(FrozenChild);
      return { key: child.key, entity: FrozenChild };
    });
    entities = { user: FrozenUser, role: FrozenRole, children };
    entityCache.set(key, entities);
  }
  return entities;
}

/** The metadata of schema `version` with the app's table names, naming strategy and driver. */
export async function frozenSchema(connection: DataSource, version: SchemaVersion, names: SecurityTableNames): Promise<FrozenSchema> {
  const entities = frozenEntities(version, names);
  const classes = [entities.user, entities.role, ...entities.children.map((child) => child.entity)];
  const metadatas = await new ConnectionMetadataBuilder(connection).buildEntityMetadatas(classes);
  const of = (target: Function) => metadatas.find((m) => m.target === target)!;
  const user = of(entities.user);
  const role = of(entities.role);
  const links = metadatas.find((m) => m.isJunction)!;
  const children = entities.children.map((child) => [child.key, of(child.entity)] as const);
  return {
    user,
    role,
    links,
    tables: [role, user, ...children.map(([, metadata]) => metadata), links],
    ...Object.fromEntries(children),
  };
}
