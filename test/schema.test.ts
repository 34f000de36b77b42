/**
 * Every column of every version, checked in the live schema of each database: name, type, length,
 * nullability and uniqueness as Flask-Security's fsqla defines them; the roles join table's key and
 * foreign keys; and no drift (TypeORM's schema builder wants nothing after synchronize).
 */
import type { DataSource } from "typeorm";
import * as v1 from "./fixtures/app-v1";
import * as v2 from "./fixtures/app-v2";
import * as v3 from "./fixtures/app-v3";
import { describeEachDatabase } from "./support/database";
import { ExpectedColumn, LIVE_TYPE, ROLE_V1, USER_V1, USER_V2, USER_V3, WEBAUTHN_V1 } from "./support/expected-schema";
import { introspect, LiveTable } from "./support/introspect";

const versions = [
  { version: "V1", entities: [v1.User, v1.Role], user: USER_V1, appColumns: [] as string[], webauthn: false },
  { version: "V2", entities: [v2.User, v2.Role], user: USER_V2, appColumns: ["display_name"], webauthn: false },
  { version: "V3", entities: [v3.User, v3.Role, v3.WebAuthn], user: USER_V3, appColumns: ["display_name"], webauthn: true },
];

describeEachDatabase("schema", (db) => {
  describe.each(versions)("UserMixin$version + RoleMixinV1", ({ version, entities, user, appColumns, webauthn }) => {
    let ds: DataSource;
    const live: Record<string, LiveTable> = {};

    beforeAll(async () => {
      ds = await db.dataSource(entities, { synchronize: true });
      for (const table of ["user", "role", "roles_users", ...(webauthn ? ["web_authn"] : [])])
        live[table] = await introspect(ds, db.kind, table);
    });
    afterAll(async () => {
      await ds.dropDatabase();
      await ds.destroy();
    });

    const checkColumn = (table: string) => (expected: ExpectedColumn) => {
      const actual = live[table].columns.get(expected.name);
      expect(actual).toBeDefined();
      expect(actual!.type).toBe(LIVE_TYPE[db.kind][expected.kind]);
      if (expected.kind === "varchar") expect(actual!.length).toBe(expected.length);
      if (expected.kind === "varbinary1024" && db.kind === "mariadb") expect(actual!.length).toBe(1024);
      expect(actual!.nullable).toBe(expected.nullable);
      expect(live[table].uniqueColumns.has(expected.name)).toBe(expected.unique);
    };

    it.each(user)("user.$name: type, length, nullability, uniqueness", (c) => checkColumn("user")(c));
    it.each(ROLE_V1)("role.$name: type, length, nullability, uniqueness", (c) => checkColumn("role")(c));

    if (webauthn) {
      it.each(WEBAUTHN_V1)("web_authn.$name: type, length, nullability, uniqueness", (c) => checkColumn("web_authn")(c));

      it("web_authn has exactly these columns; user_id references user ON DELETE CASCADE", () => {
        expect([...live.web_authn.columns.keys()].sort()).toEqual(WEBAUTHN_V1.map((c) => c.name).sort());
        expect(live.web_authn.primaryKey).toEqual(["id"]);
        expect(live.web_authn.foreignKeys.map((f) => [f.column, f.referencedTable, f.referencedColumn, f.onDelete.toUpperCase()])).toEqual([
          ["user_id", "user", "id", "CASCADE"],
        ]);
      });
    }

    it(`${version}: user and role have exactly these columns (plus the app's own), id as primary key`, () => {
      expect([...live.user.columns.keys()].sort()).toEqual([...user.map((c) => c.name), ...appColumns].sort());
      expect([...live.role.columns.keys()].sort()).toEqual(ROLE_V1.map((c) => c.name).sort());
      expect(live.user.primaryKey).toEqual(["id"]);
      expect(live.role.primaryKey).toEqual(["id"]);
    });

    it("roles_users: composite primary key, NOT NULL, both foreign keys ON DELETE CASCADE", () => {
      const links = live.roles_users;
      expect([...links.columns.keys()].sort()).toEqual(["role_id", "user_id"]);
      expect(links.primaryKey).toEqual(["user_id", "role_id"]);
      expect(links.columns.get("user_id")!.nullable).toBe(false);
      expect(links.columns.get("role_id")!.nullable).toBe(false);
      const fks = [...links.foreignKeys].sort((a, b) => a.column.localeCompare(b.column));
      expect(fks.map((f) => [f.column, f.referencedTable, f.referencedColumn, f.onDelete.toUpperCase()])).toEqual([
        ["role_id", "role", "id", "CASCADE"],
        ["user_id", "user", "id", "CASCADE"],
      ]);
    });

    it("has no drift: TypeORM's schema builder wants no change", async () => {
      const sql = await ds.driver.createSchemaBuilder().log();
      expect(sql.upQueries.map((q) => q.query)).toEqual([]);
    });
  });
});
