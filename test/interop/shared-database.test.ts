/**
 * One database shared with the real Flask-Security 5.1.2, both ways, for every schema version:
 * - Flask-Security writes (its fsqla model, plus the README's fs_token_uniquifier line from v2), our
 *   entities read: every user, role, link, datetime (same instant) and list; `hasRole` / `hasPermission`
 *   answer as Flask-Security does for every user, role and permission.
 * - We write (shipped migrations, entities, datastore), Flask-Security reads: it finds every user by email in
 *   any letter case, by fs_uniquifier and by auth token, sees the same roles and permissions, reads every
 *   datetime as the same instant to the microsecond we meant, and creates a user we then read.
 * One Flask-Security process per scenario.
 */
import { SecurityDatastore } from "../../src";
import { describeEachDatabase } from "../support/database";
import { describeWithFlaskSecurity } from "./support/flask-security";
import { flaskMicroseconds, runFlask } from "./support/flask-driver";
import type { FlaskUser } from "./support/flask-driver";
import { emptyDatabase, expectSameAsFlask } from "./support/compare";
import { VERSIONS } from "./support/entities";
import type { UserV2 } from "./support/entities";

describeWithFlaskSecurity("one database shared with Flask-Security 5.1.2", () => {
  describeEachDatabase("both ways", (db) => {
    describe.each(VERSIONS)("schema version $version", (v) => {
      it(`Flask-Security fsqla v${v.version} writes, our V${v.version} entities read the same`, async () => {
        await emptyDatabase(db);
        const flask = (await runFlask("make", db, { version: v.version, tokenUniquifier: v.tokenUniquifier })).before;
        const ds = await db.dataSource(v.entities);
        try {
          const users = await expectSameAsFlask(ds, v, flask);
          // The data Flask-Security wrote has what this test needs to mean something.
          expect(flask.users.filter((u) => u.roles.length > 1)).not.toHaveLength(0);
          expect(flask.users.some((u) => flaskMicroseconds(u.confirmed_at) % 1000 !== 0) || db.kind === "mariadb").toBe(true);
          const store = new SecurityDatastore(ds, v.User as typeof UserV2, v.Role);
          for (const user of users) {
            expect((await store.findUserByEmail(user.email.toUpperCase()))?.id).toBe(user.id);
            expect((await store.findUserByUniquifier(user.fsUniquifier))?.id).toBe(user.id);
          }
        } finally {
          await ds.destroy();
        }
      });

      it(`our V${v.version} writes, Flask-Security fsqla v${v.version} reads the same and creates a user we read`, async () => {
        await emptyDatabase(db);
        const ds = await db.dataSource(v.entities, { migrations: v.migrations });
        try {
          await ds.runMigrations({ transaction: "all" });
          const store = new SecurityDatastore(ds, v.User as typeof UserV2, v.Role);
          await store.createRole({ name: "admin", description: "Administrator", permissions: "full-read, full-write, super" });
          await store.createRole({ name: "editor", permissions: ["full-read", "full-write"] });
          await store.createRole({ name: "reader", permissions: "full-read" });
          await store.createRole({ name: "nobody", permissions: [] });
          const at = (iso: string) => new Date(iso);
          const ada = await store.createUser(
            { email: "Ada.Mixed@Example.com", username: "ada", password: "hash" },
            { roles: ["admin"], confirmedAt: at("2024-01-02T03:04:05.123Z") },
          );
          const bob = await store.createUser(
            { email: "bob@example.com", password: "hash" },
            { roles: ["editor", "reader"], tfPrimaryMethod: "sms", tfPhoneNumber: "+16505550101" },
          );
          await store.recordLogin(bob, "192.0.2.10", at("2024-02-03T04:05:06.789Z"));
          await store.recordLogin(bob, "2001:db8::1", at("2024-03-10T02:30:00.001Z")); // not a New York wall clock
          const eve = await store.createUser({ email: "eve@example.com", password: "hash" }, { roles: ["nobody"] });
          await store.deactivateUser(eve);
          await store.addRoleToUser(ada, "reader");
          await ds.getRepository(v.User).update(ada.id, { name: "Ada L." });
          if (v.WebAuthn) {
            // Version 3: a passkey, recovery codes, a user without a password.
            const credentials = ds.getRepository(v.WebAuthn);
            await credentials.save(
              credentials.create({
                credentialId: Buffer.from("00ff10ee20dd", "hex"),
                publicKey: Buffer.from("a50102032620", "hex"),
                transports: ["usb", "internal"],
                backupState: true,
                deviceType: "multi_device",
                extensions: null,
                name: "ada-key",
                usage: "first",
                userId: ada.id,
                lastuseDatetime: at("2024-05-06T07:08:09.456Z"),
              }),
            );
            await ds.getRepository(v.User).update(ada.id, { mfRecoveryCodes: ["aaaa-bbbb-cccc", "dddd-eeee-ffff"] } as never);
            await store.createUser({ email: "passkey.only@example.com", password: null } as never, { roles: ["reader"] });
          }

          const report = await runFlask("read", db, {
            version: v.version,
            tokenUniquifier: v.tokenUniquifier,
            createUser: "New.User@Example.com",
          });
          // Flask-Security's reads before it wrote anything, compared with ours after (its user included).
          expect(report.after!.users.map((u) => u.id)).toEqual([...report.before.users.map((u) => u.id), report.created!.id]);
          const users = await expectSameAsFlask(ds, v, report.after!);
          for (const fsUser of report.before.users) {
            expect(report.after!.users.find((u) => u.id === fsUser.id)).toEqual(fsUser);
            expect(fsUser.found_by_email).toEqual({ stored: fsUser.id, upper: fsUser.id, lower: fsUser.id, lookup_identity: fsUser.id });
            expect(fsUser.found_by_uniquifier).toBe(fsUser.id);
            if (v.tokenUniquifier) expect(fsUser.found_by_auth_token).toBe(fsUser.active ? fsUser.id : undefined);
            // Milliseconds we wrote are the microseconds Flask-Security reads (not .123 read as 123 µs). The
            // create/update defaults come from the database clock, with its own microseconds.
            for (const column of ["confirmed_at", "last_login_at", "current_login_at"]) {
              expect(flaskMicroseconds(fsUser[column]) % 1000).toBe(0);
            }
          }
          const bobSeen = report.before.users.find((u) => u.email === "bob@example.com") as FlaskUser;
          expect([bobSeen.last_login_at, bobSeen.current_login_at, bobSeen.login_count]).toEqual([
            "2024-02-03T04:05:06.789000",
            "2024-03-10T02:30:00.001000",
            2,
          ]);
          expect(users.find((u) => u.id === ada.id)!.hasPermission("super")).toBe(true);

          // Flask-Security creates a user in our tables; we read it, its roles and its tokens.
          const created = await store.findUserByEmail("new.user@example.com", { withRoles: true });
          expect(created).toMatchObject({ id: report.created!.id, fsUniquifier: report.created!.fs_uniquifier, active: true });
          expect(created!.hasRole("reader")).toBe(true);
          expect(created!.hasPermission("full-read")).toBe(true);
          if (v.tokenUniquifier)
            expect((created as unknown as { fsTokenUniquifier: string }).fsTokenUniquifier).toBe(report.created!.fs_token_uniquifier);
        } finally {
          await ds.destroy();
        }
      });
    });
  });
});
