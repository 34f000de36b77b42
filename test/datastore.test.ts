/**
 * SecurityDatastore on each database: every operation, bad input refused with typed errors and nothing
 * written, no duplicate links even under concurrency, lookups that load roles in the same query, and 100
 * concurrent logins through a pool that lose no count.
 */
import type { DataSource, Logger } from "typeorm";
import {
  DuplicateValueError,
  InvalidFieldsError,
  InvalidListItemError,
  MissingColumnError,
  SecurityDatastore,
  UnknownRoleError,
} from "../src";
import { Role, User } from "./fixtures/app-v2";
import * as v1 from "./fixtures/app-v1";
import { describeEachDatabase } from "./support/database";

const HASH = "$2b$12$datastore-test-hash";

describeEachDatabase("SecurityDatastore", (db) => {
  let ds: DataSource;
  let store: SecurityDatastore<User, Role>;
  let queries = 0;
  const counting: Logger = {
    logQuery: () => void queries++,
    logQueryError() {},
    logQuerySlow() {},
    logSchemaBuild() {},
    logMigration() {},
    log() {},
  };
  const count = async (sql: string) => Number((await ds.query(sql))[0].n);
  const userCount = () => count(`SELECT COUNT(*) AS n FROM ${ds.driver.escape("user")}`);
  const linkCount = () => count(`SELECT COUNT(*) AS n FROM roles_users`);

  beforeAll(async () => {
    ds = await db.dataSource([User, Role], { synchronize: true, logger: counting, poolSize: 10 });
    store = new SecurityDatastore(ds, User, Role);
    await store.createRole({ name: "admin", permissions: "user-admin, post-write" });
    await store.createRole({ name: "editor", permissions: ["post-write", "post-read"] });
  });

  describe("createUser", () => {
    it("creates an active user with fresh uniquifiers and roles by name or entity", async () => {
      const editor = (await store.findRole("editor"))!;
      const user = await store.createUser({ email: "Ada@Example.com", password: HASH, username: "ada" }, { roles: ["admin", editor] });
      const loaded = (await store.findUserByEmail("ada@example.com", { withRoles: true }))!;
      expect(loaded.id).toBe(user.id);
      expect(loaded.active).toBe(true);
      expect(loaded.fsUniquifier).toMatch(/^[0-9a-f]{64}$/);
      expect(loaded.fsTokenUniquifier).toMatch(/^[0-9a-f]{64}$/);
      expect(loaded.roles.map((r) => r.name).sort()).toEqual(["admin", "editor"]);
    });

    it.each([
      ["a malformed email", { email: "not-an-email", password: HASH }, InvalidFieldsError, "email", /email must be an email address/],
      [
        "several invalid fields",
        { email: "x", password: "", username: "u".repeat(256) },
        InvalidFieldsError,
        "email, username, password",
        /username must be shorter than or equal to 255 characters/,
      ],
      [
        "an email taken in another letter case",
        { email: "ADA@example.COM", password: HASH },
        DuplicateValueError,
        "email",
        /another user already has this email \(compared in any letter case\)/,
      ],
      [
        "a username taken in another letter case",
        { email: "other@example.com", username: "ADA", password: HASH },
        DuplicateValueError,
        "username",
        /another user already has this username/,
      ],
      [
        "an unknown role",
        { email: "new@example.com", password: HASH, roles: ["admin", "nope"] },
        UnknownRoleError,
        "roles",
        /no role is named "nope"; create it first/,
      ],
    ])("refuses %s with a typed error naming the field, writing nothing", async (_, fields, type, field, message) => {
      const [users, links] = [await userCount(), await linkCount()];
      const { roles, ...own } = fields as { roles?: string[] };
      const error = await store.createUser(own as never, { roles }).catch((e) => e);
      expect(error).toBeInstanceOf(type);
      expect(error.field).toBe(field);
      expect(error.entity).toBe("User");
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain(HASH);
      expect([await userCount(), await linkCount()]).toEqual([users, links]);
    });
  });

  describe("lookups", () => {
    it("find by email in any letter case, by username, by uniquifier, by token uniquifier", async () => {
      const ada = (await store.findUserByEmail("ADA@EXAMPLE.COM"))!;
      expect(ada.email).toBe("Ada@Example.com");
      expect((await store.findUserByUsername("Ada"))!.id).toBe(ada.id);
      expect((await store.findUserByUniquifier(ada.fsUniquifier))!.id).toBe(ada.id);
      expect((await store.findUserByTokenUniquifier(ada.fsTokenUniquifier))!.id).toBe(ada.id);
      expect(await store.findUserByEmail("nobody@example.com")).toBeNull();
      expect(await store.findUserByUniquifier(ada.fsTokenUniquifier)).toBeNull();
    });

    it("load roles and permissions in the same query when asked, and not otherwise", async () => {
      const ada = (await store.findUserByEmail("ada@example.com"))!;
      for (const find of [
        () => store.findUserByEmail("ada@example.com", { withRoles: true }),
        () => store.findUserByUniquifier(ada.fsUniquifier, { withRoles: true }),
        () => store.findUserByTokenUniquifier(ada.fsTokenUniquifier, { withRoles: true }),
        () => store.findUserByUsername("ada", { withRoles: true }),
      ]) {
        queries = 0;
        const user = (await find())!;
        expect(queries).toBe(1);
        expect(user.hasPermission("user-admin")).toBe(true);
      }
      expect(ada.roles).toBeUndefined();
    });

    it("a V1 entity has no token uniquifier: the lookup says so", async () => {
      const v1ds = await db.dataSource([v1.User, v1.Role]); // no synchronize: the lookup stops before any query
      const v1store = new SecurityDatastore(v1ds, v1.User, v1.Role);
      const error = await Promise.resolve()
        .then(() => v1store.findUserByTokenUniquifier("x"))
        .catch((e) => e);
      expect(error).toBeInstanceOf(MissingColumnError);
      expect(error.message).toBe(
        "User.fsTokenUniquifier: the token-uniquifier lookup (UserMixinV2 or later) needs the fsTokenUniquifier column, which this entity does not have",
      );
    });
  });

  describe("roles", () => {
    it("findOrCreateRole creates once and then finds", async () => {
      const made = await store.findOrCreateRole("viewer", { description: "Reads", permissions: ["post-read"] });
      const found = await store.findOrCreateRole("viewer");
      expect(found.id).toBe(made.id);
      expect(found.permissions).toEqual(["post-read"]);
      await expect(store.createRole({ name: "viewer" })).rejects.toBeInstanceOf(DuplicateValueError);
    });

    it("addRoleToUser and removeRoleFromUser say whether anything changed and never duplicate a link", async () => {
      const user = await store.createUser({ email: "links@example.com", password: HASH });
      expect(await store.addRoleToUser(user, "viewer")).toBe(true);
      expect(await store.addRoleToUser(user, "viewer")).toBe(false);
      const concurrent = await Promise.all(Array.from({ length: 10 }, () => store.addRoleToUser(user, "editor")));
      expect(concurrent.filter(Boolean)).toHaveLength(1);
      const reloaded = (await store.findUserByEmail("links@example.com", { withRoles: true }))!;
      expect(reloaded.roles.map((r) => r.name).sort()).toEqual(["editor", "viewer"]);
      expect(await store.removeRoleFromUser(user, "viewer")).toBe(true);
      expect(await store.removeRoleFromUser(user, "viewer")).toBe(false);
      await expect(store.addRoleToUser(user, "nope")).rejects.toBeInstanceOf(UnknownRoleError);
    });

    it("add and remove permissions: kept in order, stored as Flask-Security writes them, bad items refused", async () => {
      const role = (await store.findRole("viewer"))!;
      expect(await store.addPermissionsToRole(role, "post-read, comment-write")).toBe(true);
      expect(await store.addPermissionsToRole("viewer", ["post-read"])).toBe(false);
      expect(role.permissions).toEqual(["post-read", "comment-write"]);
      expect(await store.removePermissionsFromRole("viewer", ["post-read", "never-had"])).toBe(true);
      expect(await store.removePermissionsFromRole("viewer", ["post-read"])).toBe(false);
      await expect(store.addPermissionsToRole("viewer", ["a,b"])).rejects.toBeInstanceOf(InvalidListItemError);
      const [{ permissions }] = await ds.query(`SELECT permissions FROM role WHERE name = 'viewer'`);
      expect(permissions).toBe("comment-write");
    });
  });

  describe("account state", () => {
    it("activate, deactivate and toggle report changes and write them", async () => {
      const user = await store.createUser({ email: "state@example.com", password: HASH });
      expect(await store.activateUser(user)).toBe(false);
      expect(await store.deactivateUser(user)).toBe(true);
      expect((await store.findUserByEmail("state@example.com"))!.active).toBe(false);
      expect(await store.toggleActive(user)).toBe(true);
      expect((await store.findUserByEmail("state@example.com"))!.active).toBe(true);
      expect(await store.toggleActive(user)).toBe(false);
      expect(user.active).toBe(false);
    });

    it("rotations change the stored identities", async () => {
      const user = (await store.findUserByEmail("state@example.com"))!;
      const { fsUniquifier, fsTokenUniquifier } = user;
      await store.rotateTokenUniquifier(user);
      let stored = (await store.findUserByEmail("state@example.com"))!;
      expect([stored.fsUniquifier === fsUniquifier, stored.fsTokenUniquifier === fsTokenUniquifier]).toEqual([true, false]);
      await store.rotateUniquifier(user);
      stored = (await store.findUserByEmail("state@example.com"))!;
      expect(stored.fsUniquifier).not.toBe(fsUniquifier);
      expect(stored.fsUniquifier).toBe(user.fsUniquifier);
    });

    it("deleteUser deletes the user and its links, not its roles", async () => {
      const user = await store.createUser({ email: "gone@example.com", password: HASH }, { roles: ["admin", "editor"] });
      const links = await linkCount();
      expect(await store.deleteUser(user)).toBe(true);
      expect(await linkCount()).toBe(links - 2);
      expect(await store.findUserByEmail("gone@example.com")).toBeNull();
      expect(await store.findRole("admin")).not.toBeNull();
    });
  });

  describe("recordLogin", () => {
    it("shifts current to last, sets the new current and counts", async () => {
      const user = await store.createUser({ email: "login@example.com", password: HASH });
      const first = new Date("2026-01-02T03:04:05.678Z");
      const second = new Date("2026-02-03T04:05:06.789Z");
      await store.recordLogin(user, "192.0.2.1", first);
      await store.recordLogin(user, "2001:db8::2", second);
      const stored = (await store.findUserByEmail("login@example.com"))!;
      expect(stored.loginCount).toBe(2);
      expect(stored.lastLoginAt!.toISOString()).toBe(first.toISOString());
      expect(stored.currentLoginAt!.toISOString()).toBe(second.toISOString());
      expect([stored.lastLoginIp, stored.currentLoginIp]).toEqual(["192.0.2.1", "2001:db8::2"]);
      expect(user.loginCount).toBe(2);
    });

    it("100 concurrent logins of one user through a pool end exactly 100 higher", async () => {
      const user = (await store.findUserByEmail("login@example.com"))!;
      const before = user.loginCount ?? 0;
      const copies = await Promise.all(Array.from({ length: 100 }, () => store.findUserByEmail("login@example.com")));
      await Promise.all(copies.map((copy, i) => store.recordLogin(copy!, `10.0.0.${i}`)));
      const stored = (await store.findUserByEmail("login@example.com"))!;
      expect(stored.loginCount).toBe(before + 100);
      expect(stored.currentLoginIp).toMatch(/^10\.0\.0\.\d+$/);
    });
  });
});
