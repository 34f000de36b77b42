/**
 * The package extends TypeORM's driver classes only when something needs it: importing the package (an app
 * that only hashes passwords) extends nothing, a DataSource without WebAuthn entities gets no binary types,
 * `withNaiveUtc` on SQLite adds the datetime formats, and the first DataSource with a WebAuthn entity teaches
 * the drivers the portable binary types (and is drift-free with them). Jest gives this file its own TypeORM
 * module instances, so what it sees is what a fresh process sees.
 */
import { DataSource } from "typeorm";
import { PasswordHasher } from "../src";
import { isDriverExtended } from "../src/database/driver-extensions";
import type { Dialect } from "../src/database/dialect";
import * as v1 from "./fixtures/app-v1";
import * as v3 from "./fixtures/app-v3";
import { TestDatabase } from "./support/database";

const FAMILIES: Dialect[] = ["sqlite", "postgres", "mysql"];
const extended = (extension: string) => FAMILIES.filter((family) => isDriverExtended(family, extension));

describe("driver extensions", () => {
  const db = new TestDatabase("sqlite");
  beforeAll(() => db.create());
  afterAll(() => db.drop());

  it("importing the package and hashing a password extends no driver class", async () => {
    const hasher = new PasswordHasher({ salt: "driver-extensions-salt", pbkdf2Rounds: { sha256: 1000, sha512: 1000 } });
    expect(await hasher.verifyPassword("secret", await hasher.hashPassword("secret"))).toBe(true);
    expect([extended("binary-types"), extended("naive-utc-datetimes")]).toEqual([[], []]);
  });

  it("a DataSource without WebAuthn entities and without withNaiveUtc extends nothing", async () => {
    const ds = new DataSource(db.plainOptions([v1.User, v1.Role], { synchronize: true }));
    await ds.initialize();
    await ds.destroy();
    expect([extended("binary-types"), extended("naive-utc-datetimes")]).toEqual([[], []]);
  });

  it("withNaiveUtc on SQLite adds the datetime formats, and no binary types", () => {
    db.options([v1.User, v1.Role]);
    expect([extended("binary-types"), extended("naive-utc-datetimes")]).toEqual([[], ["sqlite"]]);
  });

  it("the first DataSource with a WebAuthn entity teaches every driver the binary types; its schema is drift-free", async () => {
    const ds = await db.dataSource([v3.User, v3.Role, v3.WebAuthn], { synchronize: true });
    expect(extended("binary-types")).toEqual(FAMILIES);
    expect((await ds.driver.createSchemaBuilder().log()).upQueries).toEqual([]);
    const types = await ds.query(
      `SELECT name, lower(type) AS type FROM pragma_table_info('web_authn') WHERE name IN ('credential_id', 'public_key') ORDER BY name`,
    );
    expect(types).toEqual([
      { name: "credential_id", type: "blob" },
      { name: "public_key", type: "blob" },
    ]);
  });
});
