/**
 * The behaviour of DESIGN.md §5 on real rows: defaults and identity tokens on insert, rotation, role and
 * permission checks, comma lists as Flask-Security writes and reads them, payload and JSON without secrets.
 */
import type { DataSource, Repository } from "typeorm";
import { InvalidListItemError, RolesNotLoadedError, SecurityModelError } from "../src";
import { Role, User } from "./fixtures/app-v2";
import { describeEachDatabase } from "./support/database";

const HEX64 = /^[0-9a-f]{64}$/;

describeEachDatabase("model behaviour", (db) => {
  let ds: DataSource;
  let users: Repository<User>;
  let roles: Repository<Role>;
  const param = (n: number) => (db.kind === "postgres" ? `$${n}` : "?");
  const rawUser = async (id: number) => (await ds.query(`SELECT * FROM ${ds.driver.escape("user")} WHERE id = ${param(1)}`, [id]))[0];

  beforeAll(async () => {
    ds = await db.dataSource([User, Role], { synchronize: true });
    users = ds.getRepository(User);
    roles = ds.getRepository(Role);
  });

  describe("on insert", () => {
    it("sets active = true and distinct 64-hex uniquifiers from a random source", async () => {
      const saved = await users.save([1, 2, 3].map((i) => users.create({ email: `new${i}@example.com`, password: "hash" })));
      const rows = await Promise.all(saved.map((u) => rawUser(u.id)));
      const tokens = rows.flatMap((r) => [r.fs_uniquifier, r.fs_token_uniquifier]);
      for (const row of rows) expect(Boolean(row.active)).toBe(true);
      for (const token of tokens) expect(token).toMatch(HEX64);
      expect(new Set(tokens).size).toBe(tokens.length);
    });

    it("keeps what the app set", async () => {
      const saved = await users.save(
        users.create({
          email: "set@example.com",
          password: "hash",
          active: false,
          fsUniquifier: "a".repeat(32),
          fsTokenUniquifier: "b".repeat(32),
        }),
      );
      const row = await rawUser(saved.id);
      expect(Boolean(row.active)).toBe(false);
      expect(row.fs_uniquifier).toBe("a".repeat(32));
      expect(row.fs_token_uniquifier).toBe("b".repeat(32));
    });
  });

  describe("rotation", () => {
    it("rotateUniquifier signs out everywhere: both identities change", async () => {
      const user = await users.save(users.create({ email: "rotate@example.com", password: "hash" }));
      const before = await rawUser(user.id);
      user.rotateUniquifier();
      await users.save(user);
      const after = await rawUser(user.id);
      expect(after.fs_uniquifier).toMatch(HEX64);
      expect(after.fs_uniquifier).not.toBe(before.fs_uniquifier);
      expect(after.fs_token_uniquifier).not.toBe(before.fs_token_uniquifier);
    });

    it("rotateTokenUniquifier invalidates tokens only: the session identity stays", async () => {
      const user = await users.findOneByOrFail({ email: "rotate@example.com" });
      const before = await rawUser(user.id);
      user.rotateTokenUniquifier();
      await users.save(user);
      const after = await rawUser(user.id);
      expect(after.fs_uniquifier).toBe(before.fs_uniquifier);
      expect(after.fs_token_uniquifier).toMatch(HEX64);
      expect(after.fs_token_uniquifier).not.toBe(before.fs_token_uniquifier);
    });
  });

  describe("roles and permissions", () => {
    let carol: User;
    beforeAll(async () => {
      const editor = await roles.save(roles.create({ name: "editor", permissions: ["post-read", "post-write"] }));
      const viewer = await roles.save(roles.create({ name: "viewer", permissions: ["post-read"] }));
      const created = await users.save(users.create({ email: "carol@example.com", password: "hash", roles: [editor, viewer] }));
      carol = await users.findOneOrFail({ where: { id: created.id }, relations: { roles: true } });
    });

    it("hasRole by name or by role entity", async () => {
      expect(carol.hasRole("editor")).toBe(true);
      expect(carol.hasRole(await roles.findOneByOrFail({ name: "viewer" }))).toBe(true);
      expect(carol.hasRole("admin")).toBe(false);
    });

    it("hasPermission: any role grants it", () => {
      expect(carol.hasPermission("post-write")).toBe(true);
      expect(carol.hasPermission("post-read")).toBe(true);
      expect(carol.hasPermission("post-delete")).toBe(false);
    });

    it("Role.getPermissions returns a Set read from the row", async () => {
      const editor = await roles.findOneByOrFail({ name: "editor" });
      expect(editor.getPermissions()).toEqual(new Set(["post-read", "post-write"]));
    });

    it("refuses to answer when roles were not loaded, naming the fix", async () => {
      const bare = await users.findOneByOrFail({ email: "carol@example.com" });
      expect(() => bare.hasRole("editor")).toThrow(RolesNotLoadedError);
      expect(() => bare.hasPermission("post-read")).toThrow(
        /User\.roles: hasPermission\(\) needs the roles relation loaded; query with relations: \{ roles: true \}/,
      );
    });
  });

  describe("comma lists", () => {
    it("are written as Flask-Security writes them: a,b with no spaces, '' for empty", async () => {
      const role = await roles.save(roles.create({ name: "lister", permissions: ["a", "b"] }));
      const empty = await roles.save(roles.create({ name: "empty", permissions: [] }));
      const stored = async (id: number) => (await ds.query(`SELECT permissions FROM role WHERE id = ${param(1)}`, [id]))[0].permissions;
      expect(await stored(role.id)).toBe("a,b");
      expect(await stored(empty.id)).toBe("");
    });

    it("are read leniently: trimmed, empties dropped, NULL and '' are []", async () => {
      await ds.query(`INSERT INTO role (name, permissions) VALUES ('loose', ' a, b,,c , '), ('nulled', NULL), ('blank', '')`);
      expect((await roles.findOneByOrFail({ name: "loose" })).permissions).toEqual(["a", "b", "c"]);
      expect((await roles.findOneByOrFail({ name: "nulled" })).permissions).toEqual([]);
      expect((await roles.findOneByOrFail({ name: "blank" })).permissions).toEqual([]);
    });

    it.each([
      [["a,b"], "list-item-comma", /item 1 must not contain a comma/],
      [["ok", ""], "list-item-empty", /item 2 must not be empty or blank/],
      [["ok", "  "], "list-item-empty", /item 2 must not be empty or blank/],
      [[" padded"], "list-item-whitespace", /item 1 must not start or end with whitespace/],
      [["nul\0"], "list-item-nul", /item 1 must not contain a NUL character/],
    ])("refuse %j with a typed error naming Role.permissions, writing nothing", async (permissions, rule, message) => {
      const before = await roles.count();
      const error = await roles.save(roles.create({ name: "bad-list", permissions })).catch((e) => e);
      expect(error).toBeInstanceOf(InvalidListItemError);
      expect(error).toBeInstanceOf(SecurityModelError);
      expect(error).toMatchObject({ entity: "Role", field: "permissions", rule });
      expect(error.message).toMatch(/^Role\.permissions: /);
      expect(error.message).toMatch(message);
      expect(await roles.count()).toBe(before);
    });
  });

  describe("payload and JSON", () => {
    it("getSecurityPayload is {} in the base and extended by the app through super", async () => {
      const user = await users.save(users.create({ email: "dave@example.com", password: "hash" }));
      const base = Object.getPrototypeOf(User.prototype).getSecurityPayload.call(user);
      expect(base).toEqual({});
      expect(user.getSecurityPayload()).toEqual({ username: "dave@example.com", confirmationNeeded: true });
    });

    it("calcUsername takes the first non-empty identity attribute", () => {
      const user = users.create({ email: "erin@example.com", username: "erin" });
      expect(user.calcUsername()).toBe("erin@example.com");
      class UsernameFirst extends User {
        static override identityAttributes = ["username", "email"];
      }
      const byName = Object.assign(new UsernameFirst(), { email: "erin@example.com", username: "erin" });
      expect(byName.calcUsername()).toBe("erin");
      const noName = Object.assign(new UsernameFirst(), { email: "erin@example.com", username: "" });
      expect(noName.calcUsername()).toBe("erin@example.com");
      expect(Object.assign(new UsernameFirst(), { email: "", username: null }).calcUsername()).toBe("");
    });

    it("toJSON and the payload never contain secrets", async () => {
      const secrets = { password: "$2b$12$secret-hash", tfTotpSecret: "totp-secret-value", usTotpSecrets: '{"sms":"us-secret-value"}' };
      const created = await users.save(users.create({ email: "frank@example.com", ...secrets }));
      const loaded = await users.findOneOrFail({ where: { id: created.id }, relations: { roles: true } });
      const json = JSON.stringify(loaded);
      const payload = JSON.stringify(loaded.getSecurityPayload());
      for (const secret of [...Object.values(secrets), loaded.fsUniquifier, loaded.fsTokenUniquifier]) {
        expect(json).not.toContain(secret);
        expect(payload).not.toContain(secret);
      }
      expect(JSON.parse(json)).toMatchObject({ email: "frank@example.com", active: true, id: loaded.id });
    });
  });
});
