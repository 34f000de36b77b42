/**
 * The table of schema versions and the column facts derived from the mixins, held to what the databases
 * really get: each version's migrations add exactly the columns and tables its frozen metadata has beyond
 * the version before's; every mixin column carries a tag; the derived facts (nullability, uniqueness) match
 * the live tables and the hand-written expected schemas; the secret tags keep secrets out of JSON.
 */
import { Column, Entity } from "typeorm";
import type { DataSource } from "typeorm";
import { columnFactsOf } from "../src/columns/facts";
import { columnTagsOf, SECRET_PROPERTIES } from "../src/columns/tags";
import { appSecurityTables, frozenSchema } from "../src/schema";
import { migrationsUpTo, SCHEMA_VERSIONS } from "../src/versions";
import type { SchemaVersion } from "../src/versions";
import { securityMigrations, securityMigrationsV1, securityMigrationsV2, securityMigrationsV3 } from "../migrations";
import { RoleMixinV1, UserMixinV3, WebAuthnMixinV1 } from "../src";
import * as v4 from "./fixtures/app-v4";
import { describeEachDatabase } from "./support/database";
import { USER_V1, USER_V2, USER_V3 } from "./support/expected-schema";
import type { ExpectedColumn } from "./support/expected-schema";
import { introspect } from "./support/introspect";

/** Written out by hand: the properties whose values let whoever holds them act as the user. */
const SECRETS = [
  "password",
  "fsUniquifier",
  "fsTokenUniquifier",
  "fsWebauthnUserHandle",
  "tfTotpSecret",
  "usTotpSecrets",
  "mfRecoveryCodes",
];
/** The refresh trackers' secret (version 4). */
const TRACKER_SECRETS = ["refreshFamily"];
/** Version 4 changes no user column. */
const EXPECTED_USER: Record<number, ExpectedColumn[]> = { 1: USER_V1, 2: USER_V2, 3: USER_V3, 4: USER_V3 };
const sorted = (names: Iterable<string>) => [...names].sort();

/** An app whose User replaces the secret list instead of extending it: the tagged secrets must stay hidden anyway. */
@Entity()
class User extends UserMixinV3 {
  static override secretProperties = ["apiKey"];

  @Column({ name: "api_key", type: "varchar", length: 64, nullable: true })
  apiKey!: string | null;
}

@Entity()
class Role extends RoleMixinV1 {}

@Entity()
class WebAuthn extends WebAuthnMixinV1 {}

describeEachDatabase("the version table", (db) => {
  it("each version's migrations add exactly the columns and tables of its frozen metadata beyond the version before's", async () => {
    let liveColumns = new Set<string>();
    let liveTables = new Set<string>();
    for (const row of SCHEMA_VERSIONS) {
      const ds: DataSource = await db.dataSource(v4.entities, { migrations: migrationsUpTo(row.version) });
      await ds.runMigrations();
      const names = appSecurityTables(ds);
      const frozen = await frozenSchema(ds, row.version, names);
      const previous = row.version > 1 ? await frozenSchema(ds, (row.version - 1) as SchemaVersion, names) : undefined;

      const user = await introspect(ds, db.kind, names.user);
      const addedColumns = [...user.columns.keys()].filter((name) => !liveColumns.has(name));
      const frozenAdded = frozen.user.columns.map((c) => c.databaseName).filter((name) => !previous?.user.findColumnWithDatabaseName(name));
      expect(sorted(addedColumns)).toEqual(sorted(frozenAdded));

      const runner = ds.createQueryRunner();
      const tables = new Set<string>();
      for (const name of Object.values(names)) if (name && (await runner.hasTable(name))) tables.add(name);
      await runner.release();
      const addedTables = [...tables].filter((name) => !liveTables.has(name));
      const frozenTables = frozen.tables.map((m) => m.tableName).filter((name) => !previous?.tables.some((m) => m.tableName === name));
      expect(sorted(addedTables)).toEqual(sorted(frozenTables));

      // The facts the checks use (from the mixin) agree with the live table and the hand-written schema.
      const facts = columnFactsOf(row.user);
      const expected = EXPECTED_USER[row.version];
      expect(sorted(facts.map((f) => f.column))).toEqual(sorted(expected.map((c) => c.name)));
      for (const fact of facts) {
        const written = expected.find((c) => c.name === fact.column)!;
        expect({ column: fact.column, nullable: fact.nullable, unique: fact.unique && fact.column !== "id" }).toEqual({
          column: written.name,
          nullable: written.nullable,
          unique: written.unique,
        });
        expect({ column: fact.column, nullable: user.columns.get(fact.column)!.nullable }).toEqual({
          column: fact.column,
          nullable: fact.nullable,
        });
        if (fact.column !== "id")
          expect({ column: fact.column, unique: user.uniqueColumns.has(fact.column) }).toEqual({
            column: fact.column,
            unique: fact.unique,
          });
      }
      liveColumns = new Set(user.columns.keys());
      liveTables = tables;
      await ds.destroy();
    }
  });

  it("a user read back from the database leaves every tagged secret out of JSON, even when the app replaced the list", async () => {
    const ds = await db.dataSource([User, Role, WebAuthn], { synchronize: true, dropSchema: true });
    const repository = ds.getRepository(User);
    const saved = await repository.save(
      repository.create({
        email: "secret@example.com",
        password: "$pbkdf2-sha512$hash",
        tfTotpSecret: "totp",
        usTotpSecrets: "{}",
        mfRecoveryCodes: ["a", "b"],
        apiKey: "key",
      }),
    );
    const loaded = await repository.findOneByOrFail({ id: saved.id });
    const json = JSON.parse(JSON.stringify(loaded)) as Record<string, unknown>;
    for (const secret of [...SECRETS, "apiKey"]) expect({ secret, present: secret in json }).toEqual({ secret, present: false });
    expect(json.email).toBe("secret@example.com");
    expect(loaded.fsWebauthnUserHandle).toMatch(/^[0-9a-f]{64}$/);
    await ds.destroy();
  });
});

describe("the column tags", () => {
  const mixins = [...new Set(SCHEMA_VERSIONS.flatMap((row) => [row.user, row.role, ...row.children.map((c) => c.mixin)]))];

  it.each(mixins.map((mixin) => ({ name: mixin.name, mixin })))(
    "every column of $name names its feature, and no tag names a non-column",
    ({ mixin }) => {
      const facts = columnFactsOf(mixin);
      expect(facts.filter((fact) => !fact.tag).map((fact) => fact.property)).toEqual([]);
      const columns = new Set(facts.map((fact) => fact.property));
      expect([...columnTagsOf(mixin).keys()].filter((property) => !columns.has(property))).toEqual([]);
    },
  );

  it("the secret tags are exactly the hand-written secrets, and the migration lists are the rows' migrations", () => {
    expect(sorted(SECRET_PROPERTIES)).toEqual(sorted([...SECRETS, ...TRACKER_SECRETS]));
    expect(UserMixinV3.secretProperties).toBe(SECRET_PROPERTIES);
    expect(securityMigrations).toEqual(SCHEMA_VERSIONS.flatMap((row) => [...row.migrations()]));
    expect(securityMigrationsV3).toEqual(securityMigrations.slice(0, 3));
    expect(securityMigrationsV2).toEqual(securityMigrations.slice(0, 2));
    expect(securityMigrationsV1).toEqual(securityMigrations.slice(0, 1));
  });
});
