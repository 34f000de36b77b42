/**
 * The user model's password methods on real saved users, in each database: setPassword, verifyAndUpdatePassword
 * (with the upgrade of an outdated hash and `passwordNeedsSave`), a user without a password, and the hasher
 * set once on the class or passed in.
 */
import type { DataSource, Repository } from "typeorm";
import { PasswordHasher, PasswordHasherMissingError } from "../src";
import { Role, User } from "./fixtures/app-v2";
import * as v3 from "./fixtures/app-v3";
import { CHEAP_COSTS, PASSLIB_HASHES, PASSLIB_PASSWORD, PASSLIB_SALT } from "./fixtures/passlib-hashes";
import { describeEachDatabase } from "./support/database";

describeEachDatabase("user passwords", (db) => {
  let ds: DataSource;
  let users: Repository<User>;
  const hasher = new PasswordHasher({ salt: PASSLIB_SALT, flaskSecurity: "5.1", ...CHEAP_COSTS });
  const storedPassword = async (id: number): Promise<string> => (await users.findOneByOrFail({ id })).password;

  beforeAll(async () => {
    ds = await db.dataSource([User, Role], { synchronize: true });
    users = ds.getRepository(User);
    User.passwordHasher = hasher;
  });
  afterAll(() => {
    User.passwordHasher = undefined;
  });

  it("setPassword stores a Flask-Security bcrypt hash; passwordNeedsSave until saved", async () => {
    const user = users.create({ email: "set@example.com" });
    await user.setPassword("correct horse");
    expect(user.password).toMatch(/^\$2b\$04\$/);
    expect(user.passwordNeedsSave).toBe(true);
    await users.save(user);
    expect(user.passwordNeedsSave).toBe(false);
    const loaded = await users.findOneByOrFail({ id: user.id });
    expect(loaded.passwordNeedsSave).toBe(false);
    expect(await loaded.verifyAndUpdatePassword("correct horse")).toBe(true);
    expect(await loaded.verifyAndUpdatePassword("correct horse!")).toBe(false);
    expect(loaded.passwordNeedsSave).toBe(false);
  });

  it("setPassword rotates nothing: the uniquifiers stay (sessions stay valid)", async () => {
    const user = await users.findOneByOrFail({ email: "set@example.com" });
    const { fsUniquifier, fsTokenUniquifier } = user;
    await user.setPassword("another password");
    await users.save(user);
    const loaded = await users.findOneByOrFail({ id: user.id });
    expect([loaded.fsUniquifier, loaded.fsTokenUniquifier]).toEqual([fsUniquifier, fsTokenUniquifier]);
    expect(await loaded.verifyAndUpdatePassword("another password")).toBe(true);
  });

  it.each(["sha512_crypt", "pbkdf2_sha512", "argon2id"] as const)(
    "an outdated %s hash written by Flask-Security verifies and is upgraded to bcrypt on save",
    async (scheme) => {
      const user = await users.save(users.create({ email: `${scheme}@example.com`, password: PASSLIB_HASHES[scheme] }));
      const loaded = await users.findOneByOrFail({ id: user.id });
      expect(await loaded.verifyAndUpdatePassword("wrong")).toBe(false);
      expect(loaded.passwordNeedsSave).toBe(false);
      expect(loaded.password).toBe(PASSLIB_HASHES[scheme]);

      expect(await loaded.verifyAndUpdatePassword(PASSLIB_PASSWORD)).toBe(true);
      expect(loaded.passwordNeedsSave).toBe(true);
      await users.save(loaded);
      const stored = await storedPassword(user.id);
      expect(stored).toMatch(/^\$2b\$04\$/);
      expect(hasher.needsUpdate(stored)).toBe(false);
      const again = await users.findOneByOrFail({ id: user.id });
      expect(await again.verifyAndUpdatePassword(PASSLIB_PASSWORD)).toBe(true);
      expect(again.passwordNeedsSave).toBe(false);
    },
  );

  it("a bcrypt hash below the configured cost is upgraded; one at it is left alone", async () => {
    const user = await users.save(users.create({ email: "cost@example.com", password: PASSLIB_HASHES.bcrypt }));
    const stronger = new PasswordHasher({ salt: PASSLIB_SALT, flaskSecurity: "5.1", ...CHEAP_COSTS, bcryptCost: 5 });
    const loaded = await users.findOneByOrFail({ id: user.id });
    expect(await loaded.verifyAndUpdatePassword(PASSLIB_PASSWORD)).toBe(true);
    expect(loaded.passwordNeedsSave).toBe(false);
    expect(await loaded.verifyAndUpdatePassword(PASSLIB_PASSWORD, stronger)).toBe(true);
    expect(loaded.passwordNeedsSave).toBe(true);
    await users.save(loaded);
    expect(await storedPassword(user.id)).toMatch(/^\$2b\$05\$/);
  });

  it("moving to the default preset (5.5): a bcrypt user signs in as before and is upgraded to argon2 once", async () => {
    const user = await users.save(users.create({ email: "moved@example.com", password: PASSLIB_HASHES.bcrypt }));
    const current = new PasswordHasher({ salt: PASSLIB_SALT }); // the default: what Flask-Security 5.5 and later write
    const loaded = await users.findOneByOrFail({ id: user.id });
    expect(await loaded.verifyAndUpdatePassword(`${PASSLIB_PASSWORD}!`, current)).toBe(false);
    expect(loaded.passwordNeedsSave).toBe(false);
    expect(await loaded.verifyAndUpdatePassword(PASSLIB_PASSWORD, current)).toBe(true);
    expect(loaded.passwordNeedsSave).toBe(true);
    await users.save(loaded);
    const stored = await storedPassword(user.id);
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    const again = await users.findOneByOrFail({ id: user.id });
    expect(await again.verifyAndUpdatePassword(PASSLIB_PASSWORD, current)).toBe(true);
    expect(again.passwordNeedsSave).toBe(false);
    // A hasher still on the 5.1 preset (beside a Flask-Security older than 5.5) verifies it, and moves it back.
    expect(await again.verifyAndUpdatePassword(PASSLIB_PASSWORD, hasher)).toBe(true);
    expect(again.password).toMatch(/^\$2b\$04\$/);
  });

  it("a user without a password (or with an unreadable one) is refused, never an error", async () => {
    const passwordless = users.create({ email: "none@example.com", password: null as unknown as string });
    expect(await passwordless.verifyAndUpdatePassword(PASSLIB_PASSWORD)).toBe(false);
    const garbage = await users.save(users.create({ email: "garbage@example.com", password: "not a hash" }));
    const loaded = await users.findOneByOrFail({ id: garbage.id });
    expect(await loaded.verifyAndUpdatePassword("not a hash")).toBe(false);
    expect(await loaded.verifyAndUpdatePassword(undefined as unknown as string)).toBe(false);
  });

  it("without a hasher on the class or in the call: PasswordHasherMissingError naming the fix", async () => {
    User.passwordHasher = undefined;
    try {
      const user = users.create({ email: "nohasher@example.com" });
      await expect(user.setPassword("pw")).rejects.toThrow(PasswordHasherMissingError);
      await expect(user.verifyAndUpdatePassword("pw")).rejects.toMatchObject({
        entity: "User",
        field: "password",
        rule: "password-hasher-missing",
        message: expect.stringContaining("User.passwordHasher = new PasswordHasher("),
      });
      await user.setPassword("pw", hasher); // passed in
      expect(await user.verifyAndUpdatePassword("pw", hasher)).toBe(true);
    } finally {
      User.passwordHasher = hasher;
    }
  });

  it("the hash stays out of toJSON()", async () => {
    const user = users.create({ email: "json@example.com" });
    await user.setPassword("pw");
    const json = JSON.stringify(user);
    expect(json).not.toContain(user.password);
    expect(json).not.toContain("passwordNeedsSave");
  });
});

describeEachDatabase("user passwords on V3 (passwordless users)", (db) => {
  let users: Repository<v3.User>;
  const hasher = new PasswordHasher({ salt: PASSLIB_SALT, ...CHEAP_COSTS });

  beforeAll(async () => {
    const ds = await db.dataSource([v3.User, v3.Role, v3.WebAuthn], { synchronize: true });
    users = ds.getRepository(v3.User);
    v3.User.passwordHasher = hasher;
  });

  it("a saved user without a password is refused, never an error, and can get one later", async () => {
    const saved = await users.save(users.create({ email: "passkey@example.com", password: null }));
    const loaded = await users.findOneByOrFail({ id: saved.id });
    expect(loaded.password).toBeNull();
    expect(await loaded.verifyAndUpdatePassword(PASSLIB_PASSWORD)).toBe(false);
    expect(await loaded.verifyAndUpdatePassword("")).toBe(false);
    expect(loaded.passwordNeedsSave).toBe(false);

    await loaded.setPassword(PASSLIB_PASSWORD);
    await users.save(loaded);
    const withPassword = await users.findOneByOrFail({ id: saved.id });
    expect(await withPassword.verifyAndUpdatePassword(PASSLIB_PASSWORD)).toBe(true);
  });
});
