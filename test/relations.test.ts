/**
 * The roles relation carried by the base: an app with classes User and Role writes no relation code; an app
 * with Account/Group in tables accounts/groups retargets in one line. Links survive reloads and go away with
 * their user or role (ON DELETE CASCADE), and the composite key refuses a duplicate link.
 */
import type { DataSource } from "typeorm";
import * as app from "./fixtures/app-v2";
import { Account, Group } from "./fixtures/app-renamed";
import { describeEachDatabase } from "./support/database";
import { introspect } from "./support/introspect";

const variants = [
  { label: "User/Role in user/role", entities: [app.User, app.Role], User: app.User, Role: app.Role, userTable: "user", roleTable: "role" },
  {
    label: "Account/Group in accounts/groups",
    entities: [Account, Group],
    User: Account,
    Role: Group,
    userTable: "accounts",
    roleTable: "groups",
  },
] as const;

describeEachDatabase("roles relation", (db) => {
  describe.each(variants)("$label", ({ entities, User, Role, userTable, roleTable }) => {
    let ds: DataSource;
    beforeAll(async () => {
      ds = await db.dataSource([...entities], { synchronize: true });
    });
    afterAll(async () => {
      await ds.dropDatabase();
      await ds.destroy();
    });

    const linkCount = async () => Number((await ds.query(`SELECT COUNT(*) AS n FROM roles_users`))[0].n);

    it("joins the app's own tables through roles_users", async () => {
      const links = await introspect(ds, db.kind, "roles_users");
      const targets = links.foreignKeys.map((f) => `${f.column}->${f.referencedTable}.${f.referencedColumn}`).sort();
      expect(targets).toEqual([`role_id->${roleTable}.id`, `user_id->${userTable}.id`]);
    });

    it("saves roles with a user and loads them back", async () => {
      const roles = ds.getRepository(Role);
      const users = ds.getRepository(User);
      const [admin, editor] = await roles.save([roles.create({ name: "admin" }), roles.create({ name: "editor" })]);
      const saved = await users.save(users.create({ email: "ann@example.com", password: "hash", roles: [admin, editor] }));
      const loaded = await users.findOneOrFail({ where: { id: saved.id }, relations: { roles: true } });
      expect(loaded.roles.map((r) => r.name).sort()).toEqual(["admin", "editor"]);
      expect(loaded.roles[0]).toBeInstanceOf(Role);
      expect(loaded.hasRole("admin")).toBe(true);
      expect(loaded.hasRole("viewer")).toBe(false);
    });

    it("refuses a duplicate link at the database", async () => {
      const [user] = await ds.query(`SELECT id FROM ${ds.driver.escape(userTable)} WHERE email = 'ann@example.com'`);
      const [role] = await ds.query(`SELECT id FROM ${ds.driver.escape(roleTable)} WHERE name = 'admin'`);
      const before = await linkCount();
      const insert =
        ds.driver.options.type === "postgres"
          ? `INSERT INTO roles_users (user_id, role_id) VALUES ($1, $2)`
          : `INSERT INTO roles_users (user_id, role_id) VALUES (?, ?)`;
      await expect(ds.query(insert, [user.id, role.id])).rejects.toThrow();
      expect(await linkCount()).toBe(before);
    });

    it("deleting a role or a user deletes its links, not the other side", async () => {
      const roles = ds.getRepository(Role);
      const users = ds.getRepository(User);
      const viewer = await roles.save(roles.create({ name: "viewer" }));
      const bob = await users.save(users.create({ email: "bob@example.com", password: "hash", roles: [viewer] }));
      const before = await linkCount();
      await roles.delete({ id: viewer.id });
      expect(await linkCount()).toBe(before - 1);
      expect(await users.countBy({ id: bob.id })).toBe(1);

      const ann = await users.findOneByOrFail({ email: "ann@example.com" });
      await users.delete({ id: ann.id });
      expect(await linkCount()).toBe(before - 3);
      expect(await roles.countBy({ name: "admin" })).toBe(1);
    });
  });
});
