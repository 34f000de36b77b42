/**
 * createUser, createRole and findOrCreateRole only ever insert, whatever the caller passes (an id, a role
 * entity with another role's id, a `__proto__` key, an entity instance), and refuse the fields the security
 * machinery owns unless the app's code passes them in the second argument; bad role lists, permissions and
 * V3's empty password get typed errors naming the field. On each database at V3 (the shipped migrations).
 */
import type { DataSource } from "typeorm";
import { InvalidFieldsError, InvalidListItemError, SecurityDatastore, UnknownRoleError } from "../src";
import { securityMigrationsV3 } from "../migrations";
import { appAddDisplayName } from "./fixtures/app-migrations";
import { Role, User, WebAuthn } from "./fixtures/app-v3";
import { describeEachDatabase } from "./support/database";

const HASH = "$2b$12$mass-assignment-test-hash";
const HOSTILE_HASH = "$2b$12$attacker-chosen-hash";

describeEachDatabase("datastore: mass assignment and bad input", (db) => {
  let ds: DataSource;
  let store: SecurityDatastore<User, Role>;
  let victim: User;
  let admin: Role;
  let reader: Role;

  /** Every row of the three tables, to show that a refusal changed nothing. */
  async function everything(): Promise<unknown[]> {
    const all = (table: string) => ds.query(`SELECT * FROM ${ds.driver.escape(table)} ORDER BY 1`);
    return [await all("user"), await all("role"), await ds.query(`SELECT * FROM roles_users ORDER BY user_id, role_id`)];
  }

  /** `attempt` fails with `type`, naming `fields` (in this order) with `rule`, and changes nothing. */
  async function refused(attempt: () => Promise<unknown>, type: new (...args: never[]) => Error, fields: string[], rule?: string) {
    const before = await everything();
    const error = await attempt().then(
      () => new Error("accepted"),
      (e) => e,
    );
    expect(error).toBeInstanceOf(type);
    if (error instanceof InvalidFieldsError) {
      expect(error.problems.map((p) => p.field)).toEqual(fields);
      if (rule) expect(error.problems.map((p) => p.rule)).toEqual(fields.map(() => rule));
    } else {
      expect((error as { field: string }).field).toBe(fields[0]);
    }
    expect(await everything()).toEqual(before);
    return error as Error;
  }

  beforeAll(async () => {
    ds = await db.dataSource([User, Role, WebAuthn], { migrations: [...securityMigrationsV3, appAddDisplayName("user")] });
    await ds.runMigrations();
    store = new SecurityDatastore(ds, User, Role);
    admin = await store.createRole({ name: "admin", permissions: ["user-admin"] });
    reader = await store.createRole({ name: "reader", permissions: ["read"] });
    victim = await store.createUser({ email: "victim@example.com", password: HASH }, { roles: ["admin"] });
  });

  describe("createUser only ever inserts", () => {
    it("an id (in either argument) is refused: the existing user keeps its email, hash, roles and uniquifier", async () => {
      const error = await refused(
        () => store.createUser({ id: victim.id, email: "attacker@example.com", password: HOSTILE_HASH } as never),
        InvalidFieldsError,
        ["id"],
        "generatedId",
      );
      expect(error.message).toMatch(/id is assigned by the database: createUser only ever inserts a new User/);
      await refused(
        () => store.createUser({ email: "attacker@example.com", password: HOSTILE_HASH }, { id: victim.id } as never),
        InvalidFieldsError,
        ["id"],
      );
      const stored = (await store.findUserByEmail("victim@example.com", { withRoles: true }))!;
      expect([stored.id, stored.password, stored.fsUniquifier, stored.roles.map((r) => r.name)]).toEqual([
        victim.id,
        HASH,
        victim.fsUniquifier,
        ["admin"],
      ]);
    });

    it("a loaded user passed back in is refused, naming each owned field it carries", async () => {
      const loaded = (await store.findUserByEmail("victim@example.com"))!;
      loaded.email = "copy@example.com";
      const error = (await refused(() => store.createUser(loaded), InvalidFieldsError, expect.any(Array) as never)) as InvalidFieldsError;
      const fields = error.problems.map((p) => p.field);
      expect(fields).toEqual(expect.arrayContaining(["id", "fsUniquifier", "fsTokenUniquifier", "fsWebauthnUserHandle", "createDatetime"]));
      expect(fields).not.toContain("email");
      expect(error.message).not.toContain(loaded.fsUniquifier);
    });

    it("request fields the security machinery owns are refused, each named; nothing is written", async () => {
      const body = JSON.parse(
        JSON.stringify({
          email: "mass@example.com",
          username: "mass",
          roles: ["admin"],
          confirmedAt: "2024-01-01T00:00:00Z",
          fsUniquifier: "known-session-token",
          fsTokenUniquifier: "known-auth-token",
          fsWebauthnUserHandle: "known-handle",
          loginCount: 99,
          lastLoginAt: "2024-01-01T00:00:00Z",
          currentLoginIp: "192.0.2.1",
          tfPrimaryMethod: "sms",
          tfTotpSecret: "attacker-secret",
          tfPhoneNumber: "+16505550101",
          usTotpSecrets: "{}",
          usPhoneNumber: "+16505550102",
          mfRecoveryCodes: ["aaaa"],
          createDatetime: "2000-01-01T00:00:00Z",
          updateDatetime: "2000-01-01T00:00:00Z",
        }),
      );
      const error = (await refused(
        () => store.createUser({ ...body, password: HASH }),
        InvalidFieldsError,
        Object.keys(body).filter((k) => k !== "email" && k !== "username"),
        "securityOwned",
      )) as InvalidFieldsError;
      expect(error.problems[0].message).toBe(
        "roles is set by the security machinery, not by createUser's fields: to set it on purpose (an import, a test), pass it in the second argument",
      );
    });

    it("the same fields in the second argument are set on purpose", async () => {
      const confirmedAt = new Date("2024-01-02T03:04:05.678Z");
      const user = await store.createUser(
        { email: "imported@example.com", password: HASH },
        { roles: ["reader"], confirmedAt, fsUniquifier: "f".repeat(64), loginCount: 7, mfRecoveryCodes: ["aaaa-bbbb"] },
      );
      const stored = (await store.findUserByEmail("imported@example.com", { withRoles: true }))!;
      expect(stored.id).toBe(user.id);
      expect([stored.confirmedAt?.toISOString(), stored.fsUniquifier, stored.loginCount, stored.mfRecoveryCodes]).toEqual([
        confirmedAt.toISOString(),
        "f".repeat(64),
        7,
        ["aaaa-bbbb"],
      ]);
      expect(stored.roles.map((r) => r.name)).toEqual(["reader"]);
      expect(user.roles.map((r) => r.id)).toEqual([reader.id]);
    });

    it("a __proto__ or constructor key is refused as unknown; inherited properties are never read", async () => {
      const polluted = JSON.parse(
        `{"email":"proto@example.com","password":"${HASH}","__proto__":{"id":1,"roles":["admin"]},"constructor":{}}`,
      );
      await refused(() => store.createUser(polluted), InvalidFieldsError, ["__proto__", "constructor"], "unknownField");
      const inheriting = Object.assign(Object.create({ id: victim.id, roles: ["admin"], fsUniquifier: victim.fsUniquifier }), {
        email: "inherits@example.com",
        password: HASH,
      });
      const user = await store.createUser(inheriting);
      const stored = (await store.findUserByEmail("inherits@example.com", { withRoles: true }))!;
      expect(stored.id).not.toBe(victim.id);
      expect(stored.id).toBe(user.id);
      expect(stored.roles).toEqual([]);
      expect(stored.fsUniquifier).not.toBe(victim.fsUniquifier);
    });

    it("unknown fields, relations it does not write and non-objects are refused", async () => {
      await refused(
        () => store.createUser({ email: "x@example.com", password: HASH, isAdmin: true } as never),
        InvalidFieldsError,
        ["isAdmin"],
        "unknownField",
      );
      await refused(
        () => store.createUser({ email: "x@example.com", password: HASH }, { webauthn: [] } as never),
        InvalidFieldsError,
        ["webauthn"],
        "unsupportedRelation",
      );
      await refused(() => store.createUser(null as never), InvalidFieldsError, ["(fields)"], "isObject");
      await refused(() => store.createUser({ email: "x@example.com" }, "roles" as never), InvalidFieldsError, ["(trusted)"], "isObject");
    });
  });

  describe("roles are linked by name, and only as named", () => {
    it("a role entity carrying another role's id is refused, not linked to that other role", async () => {
      await refused(
        () =>
          store.createUser(
            { email: "sneaky@example.com", password: HASH },
            { roles: [Object.assign(Object.create(reader) as Role, { id: admin.id })] },
          ),
        InvalidFieldsError,
        ["roles"],
        "roleMismatch",
      );
      await refused(
        () => store.addRoleToUser(victim, Object.assign(Object.create(reader) as Role, { id: admin.id })),
        InvalidFieldsError,
        ["roles"],
        "roleMismatch",
      );
    });

    it.each([
      ["[42]", [42]],
      ["[null]", [null]],
      ["[{}]", [{}]],
      ['"admin" (a string)', "admin"],
      ['[""]', [""]],
    ])("roles %s: InvalidFieldsError naming roles, no user created", async (_, roles) => {
      const error = await refused(
        () => store.createUser({ email: "badroles@example.com", password: HASH }, { roles } as never),
        InvalidFieldsError,
        ["roles"],
        "isRoleList",
      );
      expect(error.message).toMatch(/roles (item 1 )?must be a (list of role names or roles|role name or a role with a name)/);
    });

    it("an unknown role by name is still UnknownRoleError", async () => {
      await refused(() => store.createUser({ email: "x@example.com", password: HASH }, { roles: ["nope"] }), UnknownRoleError, ["roles"]);
    });
  });

  describe("createRole and findOrCreateRole only ever insert", () => {
    it("an id is refused: the existing role keeps its name and permissions", async () => {
      await refused(
        () => store.createRole({ id: admin.id, name: "hijack", permissions: [] } as never),
        InvalidFieldsError,
        ["id"],
        "generatedId",
      );
      await refused(() => store.findOrCreateRole("hijack", { id: admin.id } as never), InvalidFieldsError, ["id"], "generatedId");
      expect((await store.findRole("admin"))!.permissions).toEqual(["user-admin"]);
      expect(await store.findRole("hijack")).toBeNull();
    });

    it("permissions that are neither a list nor a string: InvalidListItemError naming permissions", async () => {
      const error = await refused(() => store.createRole({ name: "numbers", permissions: 42 } as never), InvalidListItemError, [
        "permissions",
      ]);
      expect(error.message).toBe("Role.permissions: must be a list of strings or a comma string");
      await refused(() => store.createRole({ name: "numbers", permissions: [42] } as never), InvalidListItemError, ["permissions"]);
    });
  });

  it("V3: an empty password is refused (a user without a password has null)", async () => {
    const error = await refused(() => store.createUser({ email: "empty@example.com", password: "" }), InvalidFieldsError, ["password"]);
    expect(error.message).toMatch(/password must not be empty: a user without a password has null/);
    const passkeyOnly = await store.createUser({ email: "nopassword@example.com", password: null });
    expect(passkeyOnly.password).toBeNull();
  });
});
