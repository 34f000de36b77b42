/**
 * Passwords against the real Flask-Security 5.1.2 (Debian's python3-flask-security, driven by passwords.py):
 * hashes it writes verify here, hashes written here verify there, wrong passwords fail both ways, and
 * outdated hashes are upgraded on either side into something the other side accepts without upgrading again.
 * The 5.1 preset runs against 5.1.2's default settings (bcrypt cost 12, argon2 as it writes it with Debian's
 * argon2-cffi 21.1), with the same salt. Flask-Security 5.5 and later cannot run here (they need a newer Flask),
 * so the 5.5 preset is checked against 5.1.2 configured as they are: SECURITY_PASSWORD_HASH "argon2" and the
 * argon2 parameters libpass reads from argon2-cffi >= 21.2's defaults, given to passlib as options. passlib
 * 1.7.4's argon2 `needs_update` is libpass's, line for line, so what it keeps libpass keeps.
 */
import { spawnSync } from "child_process";
import { join } from "path";
import { PasswordHasher } from "../../src";
import type { HashingSchemeName, PasswordSchemeName } from "../../src";
import { describeWithFlaskSecurity, PYTHON } from "./support/flask-security";

const SALT = "interop-password-salt-not-for-production";

/** Passwords that catch the usual mistakes: NFKD (composed letters, a ligature), beyond bcrypt's 72 bytes, emoji. */
const PASSWORDS = ["correct horse battery staple", "Ünïcödé ﬁsh", `${"long-".repeat(20)}ü`, "p@ss wörd 🙂"];
const WRONG = (password: string) => `${password}!`;

type FlaskOp =
  | { op: "hash"; password: string }
  | { op: "verify"; password: string; hash: string }
  | { op: "needs_update"; hash: string }
  | { op: "verify_and_update"; password: string; hash: string };
type FlaskResult = { hash?: string; verified?: boolean; needs_update?: boolean; stored?: string; error?: string };

/**
 * SECURITY_PASSWORD_HASH_PASSLIB_OPTIONS that make 5.1.2's passlib write and keep argon2 as Flask-Security 5.5
 * and later do: argon2-cffi's RFC 9106 low-memory defaults (Debian's 21.1 predates them), without 5.1.2's
 * own option of 10 passes.
 */
const AS_FLASK_SECURITY_5_5 = { argon2__memory_cost: 65536, argon2__rounds: 3, argon2__parallelism: 4, argon2__digest_size: 32 };

/**
 * Runs the ops in one Flask-Security app whose SECURITY_PASSWORD_HASH is `passwordHash`, with Flask-Security's
 * default passlib options unless `passlibOptions` replaces them.
 */
function flaskSecurity(passwordHash: PasswordSchemeName, ops: FlaskOp[], passlibOptions?: object): FlaskResult[] {
  const run = spawnSync(PYTHON, [join(__dirname, "passwords.py")], {
    input: JSON.stringify({ salt: SALT, password_hash: passwordHash, passlib_options: passlibOptions, ops }),
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024,
  });
  if (run.status !== 0) throw new Error(`passwords.py failed (${run.status}): ${run.stderr}`);
  const results = JSON.parse(run.stdout) as FlaskResult[];
  const failed = results.find((result) => result.error);
  if (failed) throw new Error(`Flask-Security raised ${failed.error}`);
  return results;
}

describeWithFlaskSecurity("passwords against the real Flask-Security (the 5.1 preset)", () => {
  const ours = new PasswordHasher({ salt: SALT, flaskSecurity: "5.1" });

  describe("hashes Flask-Security writes verify here", () => {
    // The SHA-crypt ones take seconds each (656,000 rounds), so one password for them.
    it.each<[PasswordSchemeName, string[]]>([
      ["bcrypt", PASSWORDS],
      ["argon2", PASSWORDS.slice(0, 2)],
      ["pbkdf2_sha256", PASSWORDS],
      ["pbkdf2_sha512", PASSWORDS],
      ["sha256_crypt", PASSWORDS.slice(1, 2)],
      ["sha512_crypt", PASSWORDS.slice(1, 2)],
    ])("%s", async (scheme, passwords) => {
      const hashes = flaskSecurity(
        scheme,
        passwords.map((password) => ({ op: "hash", password })),
      ).map((r) => r.hash!);
      for (const [i, hash] of hashes.entries()) {
        expect(ours.identify(hash)).toBe(scheme);
        expect(await ours.verifyPassword(passwords[i], hash)).toBe(true);
        expect(await ours.verifyPassword(passwords[i].normalize("NFC"), hash)).toBe(true);
        expect(await ours.verifyPassword(WRONG(passwords[i]), hash)).toBe(false);
        // Flask-Security's own default (bcrypt, any cost) stays; everything else is upgraded at sign-in.
        expect(ours.needsUpdate(hash)).toBe(scheme !== "bcrypt");
      }
    });

    // With the same SECURITY_PASSWORD_HASH on both sides, 5.1.2's fresh hashes stay, but for pbkdf2: passlib
    // writes 29,000 / 25,000 rounds and this package 600,000 / 210,000, so each such hash is re-hashed here
    // once, at the first sign-in, and Flask-Security keeps that (the next block): never back and forth.
    it.each<[HashingSchemeName, boolean]>([
      ["bcrypt", false],
      ["argon2", false],
      ["pbkdf2_sha256", true],
      ["pbkdf2_sha512", true],
    ])("a fresh %s from 5.1.2 set to write it is outdated under the 5.1 preset with that scheme: %s", (scheme, outdated) => {
      const [{ hash }] = flaskSecurity(scheme, [{ op: "hash", password: PASSWORDS[0] }]);
      expect(new PasswordHasher({ salt: SALT, flaskSecurity: "5.1", scheme }).needsUpdate(hash!)).toBe(outdated);
    });
  });

  describe("every hash the 5.1 preset writes verifies in Flask-Security, which keeps it", () => {
    it.each<[HashingSchemeName, string[]]>([
      ["bcrypt", PASSWORDS],
      ["argon2", PASSWORDS.slice(0, 2)],
      ["pbkdf2_sha256", PASSWORDS],
      ["pbkdf2_sha512", PASSWORDS],
    ])("%s", async (scheme, passwords) => {
      const hasher = new PasswordHasher({ salt: SALT, flaskSecurity: "5.1", scheme });
      const hashes = await Promise.all(passwords.map((password) => hasher.hashPassword(password)));
      // Checked by an app whose SECURITY_PASSWORD_HASH is the same scheme: it verifies them and wants no upgrade.
      const results = flaskSecurity(
        scheme,
        hashes.flatMap((hash, i): FlaskOp[] => [
          { op: "verify", password: passwords[i], hash },
          { op: "verify", password: WRONG(passwords[i]), hash },
          { op: "needs_update", hash },
        ]),
      );
      expect(results).toEqual(hashes.flatMap(() => [{ verified: true }, { verified: false }, { needs_update: false }]));
    });
  });

  describe("outdated hashes are upgraded", () => {
    it("here: Flask-Security's pbkdf2_sha512 and sha512_crypt become bcrypt, which Flask-Security verifies and keeps", async () => {
      const password = PASSWORDS[1];
      const old = [
        flaskSecurity("pbkdf2_sha512", [{ op: "hash", password }])[0].hash!,
        flaskSecurity("sha512_crypt", [{ op: "hash", password }])[0].hash!,
      ];
      const upgraded: string[] = [];
      for (const hash of old) {
        expect(await ours.verifyAndUpdatePassword(WRONG(password), hash)).toEqual({ verified: false, newHash: null });
        const { verified, newHash } = await ours.verifyAndUpdatePassword(password, hash);
        expect(verified).toBe(true);
        expect(newHash).toMatch(/^\$2b\$12\$/);
        upgraded.push(newHash!);
      }
      const results = flaskSecurity(
        "bcrypt",
        upgraded.map((hash) => ({ op: "verify_and_update", password, hash })),
      );
      expect(results).toEqual(upgraded.map((hash) => ({ verified: true, stored: hash })));
    });

    it("here: a bcrypt below our configured cost is re-hashed at it, and Flask-Security keeps that too", async () => {
      const password = PASSWORDS[0];
      const [{ hash: cost12 }] = flaskSecurity("bcrypt", [{ op: "hash", password }]);
      const stronger = new PasswordHasher({ salt: SALT, flaskSecurity: "5.1", bcryptCost: 13 });
      const { verified, newHash } = await stronger.verifyAndUpdatePassword(password, cost12);
      expect(verified).toBe(true);
      expect(newHash).toMatch(/^\$2b\$13\$/);
      expect(flaskSecurity("bcrypt", [{ op: "verify_and_update", password, hash: newHash! }])).toEqual([
        { verified: true, stored: newHash },
      ]);
    });

    it("there: Flask-Security upgrades our pbkdf2 hash to bcrypt at login, and it verifies here without another upgrade", async () => {
      const password = PASSWORDS[3];
      const legacy = await new PasswordHasher({ salt: SALT, flaskSecurity: "5.1", scheme: "pbkdf2_sha512" }).hashPassword(password);
      const [wrong, login] = flaskSecurity("bcrypt", [
        { op: "verify_and_update", password: WRONG(password), hash: legacy },
        { op: "verify_and_update", password, hash: legacy },
      ]);
      expect(wrong).toEqual({ verified: false, stored: legacy });
      expect(login.verified).toBe(true);
      expect(login.stored).toMatch(/^\$2b\$12\$/);
      expect(await ours.verifyAndUpdatePassword(password, login.stored)).toEqual({ verified: true, newHash: null });
    });
  });
});

describeWithFlaskSecurity("passwords against Flask-Security configured as 5.5 and later (the 5.5 preset)", () => {
  const ours = new PasswordHasher({ salt: SALT }); // the default preset, "5.5"
  const PASSWORD = PASSWORDS[1];

  it("the preset's hashes verify there, and passlib with libpass's argon2 defaults keeps them", async () => {
    const hashes = await Promise.all(PASSWORDS.slice(0, 2).map((password) => ours.hashPassword(password)));
    const results = flaskSecurity(
      "argon2",
      hashes.flatMap((hash, i): FlaskOp[] => [
        { op: "verify", password: PASSWORDS[i], hash },
        { op: "verify", password: WRONG(PASSWORDS[i]), hash },
        { op: "needs_update", hash },
        { op: "verify_and_update", password: PASSWORDS[i], hash },
      ]),
      AS_FLASK_SECURITY_5_5,
    );
    expect(results).toEqual(
      hashes.flatMap((hash) => [{ verified: true }, { verified: false }, { needs_update: false }, { verified: true, stored: hash }]),
    );
  });

  it("its fresh hashes have the preset's parameters, verify here and are not outdated here", async () => {
    const [{ hash }, { hash: another }] = flaskSecurity(
      "argon2",
      [
        { op: "hash", password: PASSWORD },
        { op: "hash", password: PASSWORDS[0] },
      ],
      AS_FLASK_SECURITY_5_5,
    );
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await ours.verifyAndUpdatePassword(PASSWORD, hash)).toEqual({ verified: true, newHash: null });
    expect(await ours.verifyPassword(WRONG(PASSWORD), hash)).toBe(false);
    expect(await ours.verifyAndUpdatePassword(PASSWORDS[0], another)).toEqual({ verified: true, newHash: null });
  });

  it("a bcrypt user from the 5.1 era is upgraded to argon2 by either side, and the other side keeps it", async () => {
    const old = await new PasswordHasher({ salt: SALT, flaskSecurity: "5.1" }).hashPassword(PASSWORD);
    const ourUpgrade = (await ours.verifyAndUpdatePassword(PASSWORD, old)).newHash!;
    expect(ourUpgrade).toMatch(/^\$argon2id\$v=19\$m=65536,t=3,p=4\$/);
    const [theirLogin, ourUpgradeThere] = flaskSecurity(
      "argon2",
      [
        { op: "verify_and_update", password: PASSWORD, hash: old },
        { op: "verify_and_update", password: PASSWORD, hash: ourUpgrade },
      ],
      AS_FLASK_SECURITY_5_5,
    );
    expect(theirLogin.verified).toBe(true);
    expect(theirLogin.stored).toMatch(/^\$argon2id\$v=19\$m=65536,t=3,p=4\$/);
    expect(await ours.verifyAndUpdatePassword(PASSWORD, theirLogin.stored)).toEqual({ verified: true, newHash: null });
    expect(ourUpgradeThere).toEqual({ verified: true, stored: ourUpgrade });
  });

  it("mixed: 5.1.2 with its defaults verifies the preset's hash but wants bcrypt, so the two sides would swap", async () => {
    const hash = await ours.hashPassword(PASSWORD);
    const [wrong, login] = flaskSecurity("bcrypt", [
      { op: "verify_and_update", password: WRONG(PASSWORD), hash },
      { op: "verify_and_update", password: PASSWORD, hash },
    ]);
    expect(wrong).toEqual({ verified: false, stored: hash });
    expect(login.verified).toBe(true);
    expect(login.stored).toMatch(/^\$2b\$12\$/);
    // ...and this side, on 5.5, moves it back to argon2: pick the preset of the release you share the database with.
    expect(ours.needsUpdate(login.stored!)).toBe(true);
  });
});
