/**
 * Lossless, version 2 to 3: 10,000 users with roles and every V2 column filled go up to V3; each then gets
 * passkey credentials and recovery codes; down to V2 and up again. Every V2 value is identical after each step
 * (full dumps compared, timestamps included), every user gets a distinct random WebAuthn user handle, and at V3
 * every credential reads back byte for byte. Down drops only what V3 added (credentials, handles, codes).
 */
import { createHash } from "crypto";
import type { DataSource } from "typeorm";
import type { WebAuthnUsage } from "../src";
import { securityMigrationsV3, securityMigrationsV2 } from "../migrations";
import * as v2 from "./fixtures/app-v2";
import * as v3 from "./fixtures/app-v3";
import { appAddDisplayName } from "./fixtures/app-migrations";
import { describeEachDatabase } from "./support/database";
import { USERS, V1_USER_COLUMNS, V2_ADDED_COLUMNS, v2User } from "./support/population";

/** Deterministic bytes for credential `n` of user `i`, so what is read back can be checked without storing it. */
const bytes = (label: string, i: number, n: number, size: number) =>
  Buffer.concat(
    Array.from({ length: Math.ceil(size / 32) }, (_, k) => createHash("sha256").update(`${label}:${i}:${n}:${k}`).digest()),
  ).subarray(0, size);

describeEachDatabase("V2 to V3 loses nothing (10,000 users, each with credentials)", (db) => {
  let ds: DataSource;
  let initial: Awaited<ReturnType<typeof dump>>;
  const q = (name: string) => ds.driver.escape(name);

  async function dump() {
    const columns = [...V1_USER_COLUMNS, ...V2_ADDED_COLUMNS, "display_name"].map(q).join(", ");
    return {
      users: await ds.query(`SELECT ${columns} FROM ${q("user")} ORDER BY id`),
      roles: await ds.query(`SELECT * FROM role ORDER BY id`),
      links: await ds.query(`SELECT user_id, role_id FROM roles_users ORDER BY user_id, role_id`),
    };
  }

  async function expectDistinctHandles() {
    const [row] = await ds.query(`SELECT COUNT(DISTINCT fs_webauthn_user_handle) AS handles, COUNT(*) AS n FROM ${q("user")}`);
    expect(Number(row.handles)).toBe(USERS);
    expect(Number(row.n)).toBe(USERS);
    const handles: Array<{ h: string }> = await ds.query(`SELECT fs_webauthn_user_handle AS h FROM ${q("user")}`);
    expect(handles.every(({ h }) => /^[0-9a-f]{64}$/.test(h))).toBe(true);
  }

  beforeAll(async () => {
    ds = await db.dataSource([v2.User, v2.Role], { migrations: [...securityMigrationsV2, appAddDisplayName("user")] });
    await ds.runMigrations();
    const roleRepository = ds.getRepository(v2.Role);
    const roles = await roleRepository.save(
      ["admin", "editor", "viewer"].map((name, i) =>
        roleRepository.create({
          name,
          permissions: [`${name}-read`, `${name}-write`].slice(0, 1 + (i % 2)),
          updateDatetime: new Date(Date.UTC(2021, i, 1)),
        }),
      ),
    );
    for (let start = 0; start < USERS; start += 500) {
      const batch = Array.from({ length: 500 }, (_, k) => ({
        ...v2User(start + k),
        displayName: (start + k) % 2 ? `Name ${start + k}` : null,
      }));
      await ds.createQueryBuilder().insert().into(v2.User).values(batch).execute();
    }
    const ids: Array<{ id: number }> = await ds.query(`SELECT id FROM ${q("user")} ORDER BY id`);
    const links = ids.flatMap(({ id }) => roles.filter((_, r) => (id + r) % 2 === 0).map((role) => [id, role.id]));
    for (let start = 0; start < links.length; start += 1000) {
      await ds.query(
        `INSERT INTO roles_users (user_id, role_id) VALUES ${links
          .slice(start, start + 1000)
          .map(([u, r]) => `(${u}, ${r})`)
          .join(", ")}`,
      );
    }
    initial = await dump();
    expect(initial.users).toHaveLength(USERS);
    await ds.destroy();
    ds = await db.dataSource([v3.User, v3.Role, v3.WebAuthn], { migrations: [...securityMigrationsV3, appAddDisplayName("user")] });
  });

  it("up: every V2 value identical, every user a distinct random WebAuthn user handle", async () => {
    await ds.runMigrations({ transaction: "all" });
    expect(await dump()).toEqual(initial);
    await expectDistinctHandles();
  });

  it("at V3, every user gets one or two credentials and recovery codes; all read back exactly", async () => {
    const ids: Array<{ id: number }> = await ds.query(`SELECT id FROM ${q("user")} ORDER BY id`);
    const credentials = ids.flatMap(({ id }) =>
      Array.from({ length: 1 + (id % 2) }, (_, n) => ({
        credentialId: bytes("id", id, n, 16 + ((id * 7 + n) % 1009)),
        publicKey: bytes("key", id, n, 77),
        signCount: id + n,
        transports: n ? ["internal", "hybrid"] : ["usb"],
        backupState: n === 1,
        deviceType: n ? "multi_device" : "single_device",
        name: `key ${n}`,
        usage: (n ? "first" : "secondary") as WebAuthnUsage, // eslint-disable-line @typescript-eslint/no-unnecessary-type-assertion -- keeps the literal type in the object (the rule misses the widening)
        lastuseDatetime: new Date(Date.UTC(2024, 0, 1) + id * 1000 + n),
        userId: id,
      })),
    );
    for (let start = 0; start < credentials.length; start += 500) {
      await ds
        .createQueryBuilder()
        .insert()
        .into(v3.WebAuthn)
        .values(credentials.slice(start, start + 500))
        .execute();
    }
    // update_datetime kept: MariaDB's ON UPDATE would otherwise move it, and the dumps compare it.
    await ds.query(`UPDATE ${q("user")} SET mf_recovery_codes = 'aaaa-bbbb-cccc,dddd-eeee-ffff', update_datetime = update_datetime`);
    const read = await ds.getRepository(v3.WebAuthn).find({ order: { userId: "ASC", name: "ASC" } });
    expect(read).toHaveLength(credentials.length);
    read.forEach((credential, k) => {
      const expected = credentials[k];
      expect(credential.userId).toBe(expected.userId);
      expect(Buffer.compare(credential.credentialId, expected.credentialId)).toBe(0);
      expect(Buffer.compare(credential.publicKey, expected.publicKey)).toBe(0);
      expect([credential.signCount, credential.transports, credential.backupState, credential.lastuseDatetime.getTime()]).toEqual([
        expected.signCount,
        expected.transports,
        expected.backupState,
        expected.lastuseDatetime.getTime(),
      ]);
    });
    expect(await dump()).toEqual(initial);
  });

  it("down: every V2 value identical; the credentials, handles and codes V3 added are gone", async () => {
    await ds.undoLastMigration({ transaction: "all" });
    expect(await dump()).toEqual(initial);
    expect(await ds.createQueryRunner().hasTable("web_authn")).toBe(false);
    const columns = (await ds.createQueryRunner().getTable("user"))!.columns.map((c) => c.name);
    expect(columns).not.toContain("fs_webauthn_user_handle");
    expect(columns).not.toContain("mf_recovery_codes");
  });

  it("up again: every V2 value identical, fresh distinct handles", async () => {
    await ds.runMigrations({ transaction: "all" });
    expect(await dump()).toEqual(initial);
    await expectDistinctHandles();
  });
});
