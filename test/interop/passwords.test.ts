/**
 * Passwords against the real Flask-Security 5.1.2 (Debian's python3-flask-security, driven by passwords.py):
 * hashes it writes verify here, hashes written here verify there, wrong passwords fail both ways, and
 * outdated hashes are upgraded on either side into something the other side accepts without upgrading again.
 * Both sides run with their default settings (bcrypt cost 12, argon2 as Flask-Security writes it) and the
 * same salt.
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

/** Runs the ops in one Flask-Security app whose SECURITY_PASSWORD_HASH is `passwordHash`. */
function flaskSecurity(passwordHash: PasswordSchemeName, ops: FlaskOp[]): FlaskResult[] {
  const run = spawnSync(PYTHON, [join(__dirname, "passwords.py")], {
    input: JSON.stringify({ salt: SALT, password_hash: passwordHash, ops }),
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024,
  });
  if (run.status !== 0) throw new Error(`passwords.py failed (${run.status}): ${run.stderr}`);
  const results = JSON.parse(run.stdout) as FlaskResult[];
  const failed = results.find((result) => result.error);
  if (failed) throw new Error(`Flask-Security raised ${failed.error}`);
  return results;
}

describeWithFlaskSecurity("passwords against the real Flask-Security", () => {
  const ours = new PasswordHasher({ salt: SALT });

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
  });

  describe("hashes written here verify in Flask-Security, which keeps them", () => {
    it.each<[HashingSchemeName, string[]]>([
      ["bcrypt", PASSWORDS],
      ["argon2", PASSWORDS.slice(0, 2)],
      ["pbkdf2_sha256", PASSWORDS],
      ["pbkdf2_sha512", PASSWORDS],
    ])("%s", async (scheme, passwords) => {
      const hasher = new PasswordHasher({ salt: SALT, scheme });
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
      const stronger = new PasswordHasher({ salt: SALT, bcryptCost: 13 });
      const { verified, newHash } = await stronger.verifyAndUpdatePassword(password, cost12);
      expect(verified).toBe(true);
      expect(newHash).toMatch(/^\$2b\$13\$/);
      expect(flaskSecurity("bcrypt", [{ op: "verify_and_update", password, hash: newHash! }])).toEqual([
        { verified: true, stored: newHash },
      ]);
    });

    it("there: Flask-Security upgrades our pbkdf2 hash to bcrypt at login, and it verifies here without another upgrade", async () => {
      const password = PASSWORDS[3];
      const legacy = await new PasswordHasher({ salt: SALT, scheme: "pbkdf2_sha512" }).hashPassword(password);
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
