/**
 * Lossless, version 3 to 4: 10,000 users with roles, passkeys and every V3 column filled go up to V4; each then
 * gets one or two refresh trackers; down to V3 and up again. Every V3 value is identical after each step (full
 * dumps compared, timestamps included), and at V4 every tracker reads back exactly. Down drops only what V4
 * added (the trackers).
 */
import type { DataSource } from "typeorm";
import { securityMigrations, securityMigrationsV3 } from "../migrations";
import * as v3 from "./fixtures/app-v3";
import * as v4 from "./fixtures/app-v4";
import { describeEachDatabase } from "./support/database";
import { USERS, V1_USER_COLUMNS, V2_ADDED_COLUMNS, v2User } from "./support/population";

describeEachDatabase("V3 to V4 loses nothing (10,000 users, each with refresh trackers)", (db) => {
  let ds: DataSource;
  let initial: Awaited<ReturnType<typeof dump>>;
  const q = (name: string) => ds.driver.escape(name);

  async function dump() {
    const columns = [...V1_USER_COLUMNS, ...V2_ADDED_COLUMNS, "fs_webauthn_user_handle", "mf_recovery_codes", "display_name"]
      .map(q)
      .join(", ");
    return {
      users: await ds.query(`SELECT ${columns} FROM ${q("user")} ORDER BY id`),
      roles: await ds.query(`SELECT * FROM role ORDER BY id`),
      links: await ds.query(`SELECT user_id, role_id FROM roles_users ORDER BY user_id, role_id`),
      passkeys: await ds.query(`SELECT * FROM web_authn ORDER BY id`),
    };
  }

  beforeAll(async () => {
    ds = await db.dataSource([v3.User, v3.Role, v3.WebAuthn], { migrations: securityMigrationsV3 });
    await ds.runMigrations();
    // The app's column without an app migration, so that undoing the last migration undoes V4.
    await ds.query(`ALTER TABLE ${q("user")} ${db.kind === "sqlite" ? "ADD COLUMN" : "ADD"} ${q("display_name")} varchar(80) NULL`);
    const roles = await ds.getRepository(v3.Role).save(["admin", "editor"].map((name) => ({ name, permissions: [`${name}-read`] })));
    for (let start = 0; start < USERS; start += 500) {
      const batch = Array.from({ length: 500 }, (_, k) => {
        const i = start + k;
        const { password, ...rest } = v2User(i);
        return {
          ...rest,
          password: i % 5 ? password : null, // V3 allows users without one
          fsWebauthnUserHandle: `${i}`.padStart(64, "h"),
          mfRecoveryCodes: i % 3 ? [`code-${i}`, `other-${i}`] : [],
          displayName: i % 2 ? `Name ${i}` : null,
        };
      });
      await ds.createQueryBuilder().insert().into(v3.User).values(batch).execute();
    }
    const ids: Array<{ id: number }> = await ds.query(`SELECT id FROM ${q("user")} ORDER BY id`);
    for (let start = 0; start < ids.length; start += 1000) {
      const slice = ids.slice(start, start + 1000);
      await ds.query(
        `INSERT INTO roles_users (user_id, role_id) VALUES ${slice.map(({ id }) => `(${id}, ${roles[id % 2].id})`).join(", ")}`,
      );
      const passkeys = slice.filter(({ id }) => id % 4 === 0);
      await ds
        .createQueryBuilder()
        .insert()
        .into(v3.WebAuthn)
        .values(
          passkeys.map(({ id }) => ({
            credentialId: Buffer.from(`credential-${id}`),
            publicKey: Buffer.from(`key-${id}`),
            signCount: id,
            transports: ["usb"],
            backupState: false,
            deviceType: "single_device",
            name: "key",
            usage: "first" as const,
            lastuseDatetime: new Date(Date.UTC(2024, 0, 1) + id * 1000),
            userId: id,
          })),
        )
        .execute();
    }
    initial = await dump();
    expect(initial.users).toHaveLength(USERS);
    await ds.destroy();
    ds = await db.dataSource(v4.entities, { migrations: securityMigrations });
  });

  it("up: every V3 value identical, an empty tracker table", async () => {
    await ds.runMigrations({ transaction: "all" });
    expect(await dump()).toEqual(initial);
    expect(await ds.getRepository(v4.FsRefreshTracker).count()).toBe(0);
  });

  it("at V4, every user gets one or two trackers; all read back exactly; V3 values untouched", async () => {
    const ids: Array<{ id: number }> = await ds.query(`SELECT id FROM ${q("user")} ORDER BY id`);
    const trackers = ids.flatMap(({ id }) =>
      Array.from({ length: 1 + (id % 2) }, (_, n) => ({
        refreshFamily: `${id}-${n}`.padStart(64, "f"),
        gen: 1 + n,
        expiresAt: new Date(Date.UTC(2030, 0, 1) + id * 1000),
        revokedAt: n ? new Date(Date.UTC(2025, 0, 1) + id) : null,
        lastUsedAt: new Date(Date.UTC(2025, 6, 1) + id * 1000 + n),
        name: `device ${n}`,
        userId: id,
      })),
    );
    for (let start = 0; start < trackers.length; start += 500) {
      await ds
        .createQueryBuilder()
        .insert()
        .into(v4.FsRefreshTracker)
        .values(trackers.slice(start, start + 500))
        .execute();
    }
    const read = await ds.getRepository(v4.FsRefreshTracker).find({ order: { userId: "ASC", name: "ASC" } });
    expect(
      read.map((t) => [
        t.refreshFamily,
        t.gen,
        t.expiresAt.getTime(),
        t.revokedAt?.getTime() ?? null,
        t.lastUsedAt.getTime(),
        t.name,
        t.userId,
      ]),
    ).toEqual(
      trackers.map((t) => [
        t.refreshFamily,
        t.gen,
        t.expiresAt.getTime(),
        t.revokedAt?.getTime() ?? null,
        t.lastUsedAt.getTime(),
        t.name,
        t.userId,
      ]),
    );
    expect(await dump()).toEqual(initial);
  });

  it("down: every V3 value identical; the trackers V4 added are gone", async () => {
    await ds.undoLastMigration({ transaction: "all" });
    expect(await ds.createQueryRunner().hasTable("fs_refresh_tracker")).toBe(false);
    await ds.runMigrations({ transaction: "all" }); // … and up again
    expect(await dump()).toEqual(initial);
    expect(await ds.getRepository(v4.FsRefreshTracker).count()).toBe(0);
  });
});
