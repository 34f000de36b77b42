/**
 * Schema version 3 on real rows, on a database built by the shipped migrations: the WebAuthn user handle,
 * recovery codes, nullable passwords, unique phone numbers, emails unique in any letter case (refused by the
 * database itself), and passkey credentials (binary ids, transports, defaults, cascade on user delete).
 */
import { randomBytes } from "crypto";
import { validate } from "class-validator";
import type { DataSource, Repository } from "typeorm";
import { InvalidListItemError, SecurityDatastore } from "../src";
import { securityMigrationsV3 } from "../migrations";
import { Role, User, WebAuthn } from "./fixtures/app-v3";
import { appAddDisplayName } from "./fixtures/app-migrations";
import { describeEachDatabase } from "./support/database";

const HEX64 = /^[0-9a-f]{64}$/;

describeEachDatabase("schema version 3", (db) => {
  let ds: DataSource;
  let users: Repository<User>;
  let credentials: Repository<WebAuthn>;
  const param = (n: number) => (db.kind === "postgres" ? `$${n}` : "?");
  const q = (name: string) => ds.driver.escape(name);
  const rawUser = async (id: number) => (await ds.query(`SELECT * FROM ${q("user")} WHERE id = ${param(1)}`, [id]))[0];
  const count = async (table: string) => Number((await ds.query(`SELECT COUNT(*) AS n FROM ${q(table)}`))[0].n);

  /** A credential owned by `user`, or, without one, to append to a user's `webauthn` list. */
  const newCredential = (user: User | undefined, overrides: Partial<WebAuthn> = {}) =>
    credentials.create({
      credentialId: randomBytes(64),
      publicKey: randomBytes(77),
      transports: ["usb", "nfc"],
      backupState: false,
      deviceType: "single_device",
      name: "key",
      usage: "secondary",
      ...(user ? { user } : {}),
      ...overrides,
    });

  beforeAll(async () => {
    ds = await db.dataSource([User, Role, WebAuthn], { migrations: [...securityMigrationsV3, appAddDisplayName("user")] });
    await ds.runMigrations({ transaction: "all" });
    users = ds.getRepository(User);
    credentials = ds.getRepository(WebAuthn);
  });

  describe("user", () => {
    it("a new user gets a distinct random 64-hex WebAuthn user handle; one the app set is kept", async () => {
      const saved = await users.save([1, 2, 3].map((i) => users.create({ email: `handle${i}@example.com`, password: "hash" })));
      const handles = (await Promise.all(saved.map((u) => rawUser(u.id)))).map((row) => row.fs_webauthn_user_handle);
      for (const handle of handles) expect(handle).toMatch(HEX64);
      expect(new Set(handles).size).toBe(3);
      const kept = await users.save(
        users.create({ email: "kept-handle@example.com", password: "hash", fsWebauthnUserHandle: "c".repeat(32) }),
      );
      expect((await rawUser(kept.id)).fs_webauthn_user_handle).toBe("c".repeat(32));
    });

    it("recovery codes are a comma list, stored as Flask-Security writes them", async () => {
      const codes = ["abcd-efgh-ijkl", "mnop-qrst-uvwx", "1234-5678-9012"];
      const saved = await users.save(users.create({ email: "codes@example.com", password: "hash", mfRecoveryCodes: codes }));
      expect((await rawUser(saved.id)).mf_recovery_codes).toBe(codes.join(","));
      expect((await users.findOneByOrFail({ id: saved.id })).mfRecoveryCodes).toEqual(codes);
    });

    it("a recovery code with a comma is refused, naming the field and the item's position but never the code", async () => {
      const before = await count("user");
      const error = await users
        .save(users.create({ email: "bad-codes@example.com", password: "hash", mfRecoveryCodes: ["good-code", "secret,code"] }))
        .catch((e) => e);
      expect(error).toBeInstanceOf(InvalidListItemError);
      expect(error).toMatchObject({ entity: "User", field: "mfRecoveryCodes", rule: "list-item-comma" });
      expect(error.message).toContain("item 2");
      expect(error.message).not.toContain("secret");
      expect(await count("user")).toBe(before);
    });

    it("a user may have no password (passkey or sms only)", async () => {
      const user = users.create({ email: "passwordless@example.com", password: null });
      expect(await validate(user)).toEqual([]);
      const saved = await users.save(user);
      expect((await rawUser(saved.id)).password).toBeNull();
    });

    it("the database refuses a second user with the same phone number", async () => {
      await users.save(users.create({ email: "phone1@example.com", password: "hash", usPhoneNumber: "+16505550101" }));
      const before = await count("user");
      await expect(
        users.insert({
          email: "phone2@example.com",
          password: "hash",
          usPhoneNumber: "+16505550101",
          active: true,
          fsUniquifier: "p".repeat(64),
          fsTokenUniquifier: "q".repeat(64),
        }),
      ).rejects.toThrow();
      expect(await count("user")).toBe(before);
    });

    it("the database itself refuses an email that differs from another only in letter case", async () => {
      await users.save(users.create({ email: "Case.Variant@Example.com", password: "hash" }));
      const before = await count("user");
      const insert = users.insert({
        email: "case.variant@example.COM",
        password: "hash",
        active: true,
        fsUniquifier: "r".repeat(64),
        fsTokenUniquifier: "s".repeat(64),
      });
      await expect(insert).rejects.toThrow(/unique|duplicate/i);
      expect(await count("user")).toBe(before);
    });

    it("the datastore's case-insensitive email lookup is served by the version 3 index (query plan)", async () => {
      const queries: Array<{ query: string; parameters?: unknown[] }> = [];
      const logger = {
        logQuery: (query: string, parameters?: unknown[]) => void queries.push({ query, parameters }),
        logQueryError() {},
        logQuerySlow() {},
        logSchemaBuild() {},
        logMigration() {},
        log() {},
      };
      const logged = await db.dataSource([User, Role, WebAuthn], { logging: ["query"], logger });
      const store = new SecurityDatastore(logged, User, Role);
      await store.findUserByEmail("CASE.variant@example.com");
      const lookup = queries.find((q) => /email/i.test(q.query) && /^SELECT/i.test(q.query))!;
      const plan = JSON.stringify(
        await logged.query(
          `${db.kind === "mariadb" ? "EXPLAIN" : db.kind === "sqlite" ? "EXPLAIN QUERY PLAN" : "EXPLAIN"} ${lookup.query}`,
          lookup.parameters,
        ),
      );
      // MariaDB: the unique email index (its _ci collation), read as a constant lookup.
      expect(plan).toMatch(db.kind === "mariadb" ? /IDX_e12875dfb3b1d92d7d7c5377e2|const tables/ : /IDX_security_email_ci/);
    });

    it("JSON leaves out the WebAuthn user handle and the recovery codes", async () => {
      const user = await users.save(users.create({ email: "json3@example.com", password: "hash", mfRecoveryCodes: ["aaaa-bbbb-cccc"] }));
      const json = JSON.stringify(user);
      expect(json).toContain("json3@example.com");
      for (const secret of [user.fsWebauthnUserHandle!, "aaaa-bbbb-cccc", user.fsUniquifier, user.fsTokenUniquifier, "hash"])
        expect(json).not.toContain(secret);
    });
  });

  describe("WebAuthn credentials", () => {
    let owner: User;
    beforeAll(async () => {
      owner = await users.save(users.create({ email: "owner@example.com", password: null }));
    });

    it("a credential id of 1 to 1024 bytes and the public key round-trip byte for byte, and find the credential", async () => {
      for (const size of [1, 16, 255, 1024]) {
        const id = randomBytes(size);
        const publicKey = randomBytes(300);
        await credentials.save(newCredential(owner, { credentialId: id, publicKey, name: `key-${size}` }));
        const found = await credentials.findOneOrFail({ where: { credentialId: id }, relations: { user: true } });
        expect(Buffer.compare(found.credentialId, id)).toBe(0);
        expect(Buffer.compare(found.publicKey, publicKey)).toBe(0);
        expect(found.user.id).toBe(owner.id);
        expect(found.getUserMapping()).toEqual({ id: owner.id });
      }
    });

    it("fills sign_count = 0 and lastuse_datetime on insert; transports are a comma list", async () => {
      const before = Date.now();
      const saved = await credentials.save(newCredential(owner, { transports: ["usb", "internal", "hybrid"] }));
      const row = (await ds.query(`SELECT sign_count, transports FROM ${q("web_authn")} WHERE id = ${param(1)}`, [saved.id]))[0];
      expect(Number(row.sign_count)).toBe(0);
      expect(row.transports).toBe("usb,internal,hybrid");
      const read = await credentials.findOneByOrFail({ id: saved.id });
      expect(read.transports).toEqual(["usb", "internal", "hybrid"]);
      expect(Math.abs(read.lastuseDatetime.getTime() - before)).toBeLessThan(60_000);
    });

    it("the database refuses a second credential with the same id", async () => {
      const id = randomBytes(32);
      await credentials.save(newCredential(owner, { credentialId: id }));
      const before = await count("web_authn");
      await expect(credentials.save(newCredential(owner, { credentialId: Buffer.from(id) }))).rejects.toThrow(/unique|duplicate/i);
      expect(await count("web_authn")).toBe(before);
    });

    it("validation names bad fields: empty or overlong id, unknown usage, comma in a transport", async () => {
      const bad = newCredential(owner, { credentialId: Buffer.alloc(0), usage: "primary" as never, transports: ["usb,nfc"] });
      const fields = (await validate(bad)).map((e) => e.property).sort();
      expect(fields).toEqual(["credentialId", "transports", "usage"]);
      const tooLong = (await validate(newCredential(owner, { credentialId: randomBytes(1025) }))).map((e) => [
        e.property,
        Object.values(e.constraints!)[0],
      ]);
      expect(tooLong).toEqual([["credentialId", "credentialId must be a Buffer of 1 to 1024 bytes"]]);
    });

    it("saving a user with new credentials inserts them; removing one from the loaded list deletes it", async () => {
      const user = users.create({ email: "cascade@example.com", password: null });
      // As Flask-Security's create_webauthn does: append to the user's list (create() copies a `user` given to it).
      user.webauthn = [newCredential(undefined, { name: "laptop" }), newCredential(undefined, { name: "phone" })];
      await users.save(user);
      const loaded = await users.findOneOrFail({ where: { id: user.id }, relations: { webauthn: true } });
      expect(loaded.webauthn.map((c) => c.name).sort()).toEqual(["laptop", "phone"]);
      loaded.webauthn = loaded.webauthn.filter((c) => c.name === "laptop");
      await users.save(loaded);
      expect((await credentials.findBy({ userId: user.id })).map((c) => c.name)).toEqual(["laptop"]);
    });

    it("deleting a user deletes its credentials, in the database (ON DELETE CASCADE)", async () => {
      const user = await users.save(users.create({ email: "gone@example.com", password: null }));
      await credentials.save([newCredential(user), newCredential(user)]);
      expect(await credentials.countBy({ userId: user.id })).toBe(2);
      await ds.query(`DELETE FROM ${q("user")} WHERE id = ${param(1)}`, [user.id]);
      expect(await credentials.countBy({ userId: user.id })).toBe(0);
    });
  });
});
