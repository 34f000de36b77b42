/**
 * The password hasher on its own (no database): hashes as Flask-Security writes them verify here, ours have
 * Flask-Security's format, wrong passwords fail, outdated hashes are flagged and re-hashed, passwords are
 * normalised (NFKD), and bad settings are typed errors that never quote a secret. Real hashing throughout,
 * at low costs; the live Flask-Security checks are in test/interop/passwords.test.ts.
 */
import { createHmac } from "crypto";
import { inspect } from "util";
import { bcryptLibrary } from "../src/password/libraries";
import {
  FlaskSecurityRelease,
  HashingSchemeName,
  InvalidPasswordError,
  PasswordConfigError,
  PasswordHasher,
  PasswordHasherOptions,
  PasswordSchemeName,
  SecurityModelError,
} from "../src";
import { CHEAP_COSTS, PASSLIB_HASHES, PASSLIB_PASSWORD, PASSLIB_SALT } from "./fixtures/passlib-hashes";

const ALL_SCHEMES: PasswordSchemeName[] = ["bcrypt", "argon2", "pbkdf2_sha256", "pbkdf2_sha512", "sha256_crypt", "sha512_crypt"];
/** A hasher on the bcrypt-era preset (the fixtures are what Flask-Security 5.1.2 writes), at cheap costs. */
const hasher = (options: Partial<PasswordHasherOptions> = {}) =>
  new PasswordHasher({ salt: PASSLIB_SALT, flaskSecurity: "5.1", ...CHEAP_COSTS, ...options });

describe("settings", () => {
  it.each([
    ["missing", undefined],
    ["empty", ""],
    ["not a string", 42 as unknown as string],
  ])("a %s salt is a PasswordConfigError at creation, naming the setting and the fix", (_, salt) => {
    const create = () => new PasswordHasher({ salt });
    expect(create).toThrow(PasswordConfigError);
    try {
      create();
    } catch (error) {
      const e = error as PasswordConfigError;
      expect(e).toBeInstanceOf(SecurityModelError);
      expect([e.entity, e.field, e.rule]).toEqual(["PasswordHasher", "salt", "salt-required"]);
      expect(e.message).toContain("SECURITY_PASSWORD_SALT");
    }
  });

  it("accepts pbkdf2 rounds up to the most Node computes (2^31 - 1)", () => {
    expect(() => new PasswordHasher({ salt: "salt", pbkdf2Rounds: { sha256: 2 ** 31 - 1, sha512: 2 ** 31 - 1 } })).not.toThrow();
  });

  it("needs no salt only when no scheme uses the HMAC (singleHash: true)", async () => {
    const single = new PasswordHasher({ salt: undefined, singleHash: true, bcryptCost: 4 });
    expect(await single.verifyPassword(PASSLIB_PASSWORD, PASSLIB_HASHES.single_hash_bcrypt)).toBe(true);
  });

  it.each<[string, Partial<PasswordHasherOptions>, string, string]>([
    ["an unknown scheme in schemes", { schemes: ["bcrypt", "des_crypt" as PasswordSchemeName] }, "schemes", "unknown-scheme"],
    ["an empty schemes list", { schemes: [] }, "schemes", "schemes-required"],
    ["a writing scheme that cannot write", { scheme: "sha512_crypt" as "bcrypt" }, "scheme", "unknown-scheme"],
    ["a writing scheme missing from schemes", { scheme: "argon2", schemes: ["bcrypt"] }, "scheme", "scheme-not-listed"],
    ["a bcrypt cost out of range", { bcryptCost: 3 }, "bcryptCost", "out-of-range"],
    ["a fractional pbkdf2 rounds", { pbkdf2Rounds: { sha256: 1000.5 } }, "pbkdf2Rounds.sha256", "out-of-range"],
    ["pbkdf2 rounds beyond what Node computes (2^31)", { pbkdf2Rounds: { sha256: 2 ** 31 } }, "pbkdf2Rounds.sha256", "out-of-range"],
    ["pbkdf2 rounds at passlib's largest (2^32 - 1)", { pbkdf2Rounds: { sha512: 2 ** 32 - 1 } }, "pbkdf2Rounds.sha512", "out-of-range"],
    ["an unknown normal form", { normalizeForm: "NFX" as "NFKD" }, "normalizeForm", "unknown-form"],
    ["an argon2 hash shorter than passlib accepts", { argon2: { hashLength: 15 } }, "argon2.hashLength", "out-of-range"],
    ["an argon2 hash too long for the password column", { argon2: { hashLength: 65 } }, "argon2.hashLength", "out-of-range"],
  ])("%s is a PasswordConfigError naming the setting, without the salt", (_, options, field, rule) => {
    const secretSalt = "s3cret-salt-value";
    try {
      new PasswordHasher({ salt: secretSalt, ...options });
      throw new Error("no error");
    } catch (error) {
      expect(error).toBeInstanceOf(PasswordConfigError);
      const e = error as PasswordConfigError;
      expect([e.field, e.rule]).toEqual([field, rule]);
      expect(e.message).not.toContain(secretSalt);
    }
  });

  it("does not show the salt when the hasher is logged or serialised", () => {
    const secretSalt = "s3cret-salt-value";
    const h = new PasswordHasher({ salt: secretSalt });
    expect(inspect(h, { depth: 5, showHidden: true })).not.toContain(secretSalt);
    expect(JSON.stringify(h)).not.toContain(secretSalt);
    expect(h.scheme).toBe("argon2");
  });
});

/**
 * passlib's argon2 `needs_update`, restated from its source (Debian's passlib 1.7.4, which Flask-Security 5.1.2
 * runs, and libpass 1.9.3, which 5.7 and later run, have the same rule): a stored argon2 hash is re-hashed when
 * its type is not argon2id, its version is below 19 (the newest the backend supports), or its memory cost,
 * parallelism or hash length differs at all from the configured ones. Those default to argon2-cffi's
 * `PasswordHasher()` defaults, except what `SECURITY_PASSWORD_HASH_PASSLIB_OPTIONS` sets; the time cost counts
 * only against min/max rounds, which Flask-Security does not set. The hash must first match passlib's format:
 * `$argon2<type>$v=<n>$m=<n>,t=<n>,p=<n>$<salt>$<hash>`, parameters in that order, salt and hash in base64
 * without padding.
 */
const PASSLIB_ARGON2_FORMAT =
  /^\$argon2(?<type>[a-z]+)\$(?:v=(?<version>\d+)\$)?m=(?<m>\d+),t=(?<t>\d+),p=(?<p>\d+)(?:,keyid=[^,$]+)?(?:,data=[^,$]+)?\$(?<salt>[^$]+)\$(?<digest>[^$]+)$/;
interface PasslibArgon2Defaults {
  memoryCost: number;
  parallelism: number;
  hashLength: number;
}
/** argon2-cffi's defaults since 21.2 (RFC 9106's low-memory profile): what libpass writes for Flask-Security 5.5+. */
const ARGON2_CFFI_RFC_9106: PasslibArgon2Defaults = { memoryCost: 65536, parallelism: 4, hashLength: 32 };
/** argon2-cffi 21.1's defaults (Debian 12's): what passlib writes for Flask-Security 5.1.2, with t=10 from its options. */
const ARGON2_CFFI_21_1: PasslibArgon2Defaults = { memoryCost: 102400, parallelism: 8, hashLength: 16 };

function passlibWouldRehash(hash: string, configured: PasslibArgon2Defaults): boolean {
  const parts = PASSLIB_ARGON2_FORMAT.exec(hash)?.groups;
  if (!parts) throw new Error(`passlib cannot parse ${hash}`);
  const hashLength = Buffer.from(parts.digest, "base64").length;
  return (
    parts.type !== "id" ||
    Number(parts.version ?? 16) < 19 ||
    Number(parts.m) !== configured.memoryCost ||
    Number(parts.p) !== configured.parallelism ||
    hashLength !== configured.hashLength
  );
}

describe("presets: flaskSecurity names the release the database is shared with", () => {
  // Real hashes at each preset's full costs, made once: the argon2 ones take a second or more on a busy machine.
  const written = new Map<string, string>();
  const hashUnder = async (release: FlaskSecurityRelease, scheme?: HashingSchemeName): Promise<string> => {
    const key = `${release}/${scheme ?? "preset"}`;
    if (!written.has(key))
      written.set(key, await new PasswordHasher({ salt: PASSLIB_SALT, flaskSecurity: release, scheme }).hashPassword(PASSLIB_PASSWORD));
    return written.get(key)!;
  };

  it("the default is 5.5 (argon2), as current Flask-Security", () => {
    const byDefault = new PasswordHasher({ salt: PASSLIB_SALT });
    expect([byDefault.flaskSecurity, byDefault.scheme]).toEqual(["5.5", "argon2"]);
    expect(new PasswordHasher({ salt: PASSLIB_SALT, flaskSecurity: "5.1" }).scheme).toBe("bcrypt");
  });

  it.each<[FlaskSecurityRelease, HashingSchemeName | undefined, RegExp]>([
    ["5.5", undefined, /^\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/],
    ["5.1", undefined, /^\$2b\$12\$[./A-Za-z0-9]{53}$/],
    ["5.1", "argon2", /^\$argon2id\$v=19\$m=102400,t=10,p=8\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{22}$/],
  ])("%s (scheme: %s) writes what that release writes, verifies it and does not flag it", async (release, scheme, format) => {
    const h = new PasswordHasher({ salt: PASSLIB_SALT, flaskSecurity: release, scheme });
    const hash = await hashUnder(release, scheme);
    expect(hash).toMatch(format);
    expect(await h.verifyPassword(PASSLIB_PASSWORD, hash)).toBe(true);
    expect(await h.verifyPassword(`${PASSLIB_PASSWORD}!`, hash)).toBe(false);
    expect(h.needsUpdate(hash)).toBe(false);
    expect(await h.verifyAndUpdatePassword(PASSLIB_PASSWORD, hash)).toEqual({ verified: true, newHash: null });
  });

  it("each preset's fresh hash under the other preset: verified, and re-hashed (as the other Flask-Security does)", async () => {
    const fresh = { "5.5": await hashUnder("5.5"), "5.1": await hashUnder("5.1"), "5.1 argon2": await hashUnder("5.1", "argon2") };
    const on55 = new PasswordHasher({ salt: PASSLIB_SALT, flaskSecurity: "5.5" });
    const on51 = new PasswordHasher({ salt: PASSLIB_SALT, flaskSecurity: "5.1" });
    const on51Argon2 = new PasswordHasher({ salt: PASSLIB_SALT, flaskSecurity: "5.1", scheme: "argon2" });
    for (const hash of Object.values(fresh)) {
      // Verifying does not depend on the writing scheme, so the two presets are enough.
      for (const h of [on55, on51]) expect(await h.verifyPassword(PASSLIB_PASSWORD, hash)).toBe(true);
    }
    // 5.5 and later deprecate bcrypt ("auto") and want their own argon2 memory, lanes and length.
    expect([on55.needsUpdate(fresh["5.1"]), on55.needsUpdate(fresh["5.1 argon2"])]).toEqual([true, true]);
    // Before 5.5: bcrypt is the scheme, so argon2 is re-hashed; with argon2 configured, 5.5's lower memory is.
    expect([on51.needsUpdate(fresh["5.5"]), on51Argon2.needsUpdate(fresh["5.5"])]).toEqual([true, true]);
  });

  it("the 5.5 preset's hash has libpass's format and its needs_update keeps it; the 5.1 era's is re-hashed there", async () => {
    const hash = await hashUnder("5.5");
    const parts = PASSLIB_ARGON2_FORMAT.exec(hash)!.groups!;
    expect([parts.type, parts.version, Buffer.from(parts.salt, "base64").length]).toEqual(["id", "19", 16]);
    expect(passlibWouldRehash(hash, ARGON2_CFFI_RFC_9106)).toBe(false);
    expect(passlibWouldRehash(hash, ARGON2_CFFI_21_1)).toBe(true);
    const older = await hashUnder("5.1", "argon2");
    expect(passlibWouldRehash(older, ARGON2_CFFI_21_1)).toBe(false);
    expect(passlibWouldRehash(older, ARGON2_CFFI_RFC_9106)).toBe(true);
    // And the other way: a hash libpass would keep for 5.5 (any time cost of at least 3) is kept here too.
    expect(new PasswordHasher({ salt: PASSLIB_SALT }).needsUpdate(hash.replace(",t=3,", ",t=4,"))).toBe(false);
  });

  it("options beside a preset win, one by one; the rest stay the preset's", async () => {
    const bcrypt = new PasswordHasher({ salt: PASSLIB_SALT, flaskSecurity: "5.5", scheme: "bcrypt", bcryptCost: 4 });
    expect(await bcrypt.hashPassword("x")).toMatch(/^\$2b\$04\$/);
    const argon2 = new PasswordHasher({
      salt: PASSLIB_SALT,
      flaskSecurity: "5.1",
      scheme: "argon2",
      argon2: { memoryCost: 1024, parallelism: 1 },
    });
    expect(await argon2.hashPassword("x")).toMatch(/^\$argon2id\$v=19\$m=1024,t=10,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{22}$/);
    const longer = new PasswordHasher({ salt: PASSLIB_SALT, argon2: { memoryCost: 1024, timeCost: 1, hashLength: 64 } });
    const long = await longer.hashPassword("x");
    expect(long).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=4\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{86}$/);
    expect(await longer.verifyPassword("x", long)).toBe(true);
    // A hash shorter than the configured length is outdated; a longer one is not downgraded.
    expect(new PasswordHasher({ salt: PASSLIB_SALT, argon2: { memoryCost: 1024, timeCost: 1, hashLength: 32 } }).needsUpdate(long)).toBe(
      false,
    );
    expect(
      longer.needsUpdate(await new PasswordHasher({ salt: PASSLIB_SALT, argon2: { memoryCost: 1024, timeCost: 1 } }).hashPassword("x")),
    ).toBe(true);
  });

  it.each<[string, unknown]>([
    ["a later release's number", "5.9"],
    ["a major only", "5"],
    ["empty", ""],
    ["a number", 5.5],
  ])("an unknown preset (%s) is a PasswordConfigError naming the field and the valid values", (_, flaskSecurity) => {
    const create = () => new PasswordHasher({ salt: "s3cret-salt-value", flaskSecurity: flaskSecurity as FlaskSecurityRelease });
    expect(create).toThrow(PasswordConfigError);
    try {
      create();
    } catch (error) {
      const e = error as PasswordConfigError;
      expect([e.entity, e.field, e.rule]).toEqual(["PasswordHasher", "flaskSecurity", "unknown-release"]);
      expect(e.message).toContain('use "5.5" for Flask-Security 5.5 and later (argon2) or "5.1" for earlier releases (bcrypt)');
      expect(e.message).not.toContain("s3cret-salt-value");
    }
  });
});

describe("hashes written by Flask-Security (passlib) verify here", () => {
  const h = hasher();

  it.each(Object.entries(PASSLIB_HASHES).filter(([name]) => name !== "single_hash_bcrypt"))("%s", async (_, hash) => {
    expect(h.identify(hash)).toBeDefined();
    expect(await h.verifyPassword(PASSLIB_PASSWORD, hash)).toBe(true);
    expect(await h.verifyPassword(`${PASSLIB_PASSWORD}!`, hash)).toBe(false);
    expect(await h.verifyPassword("ünïcödé ﬁsh", hash)).toBe(false); // case matters
  });

  it("a hash keyed with another salt does not verify", async () => {
    expect(await hasher({ salt: "another-salt" }).verifyPassword(PASSLIB_PASSWORD, PASSLIB_HASHES.bcrypt)).toBe(false);
  });

  it("SECURITY_PASSWORD_SINGLE_HASH: a bcrypt of the password itself verifies only when bcrypt is listed as single-hash", async () => {
    expect(await h.verifyPassword(PASSLIB_PASSWORD, PASSLIB_HASHES.single_hash_bcrypt)).toBe(false);
    const single = hasher({ singleHash: ["bcrypt"] });
    expect(await single.verifyPassword(PASSLIB_PASSWORD, PASSLIB_HASHES.single_hash_bcrypt)).toBe(true);
    expect(await single.verifyPassword(PASSLIB_PASSWORD, PASSLIB_HASHES.bcrypt)).toBe(false);
  });
});

describe("normalisation (SECURITY_PASSWORD_NORMALIZE_FORM)", () => {
  const h = hasher();
  const composed = PASSLIB_PASSWORD.normalize("NFC");
  const decomposed = PASSLIB_PASSWORD.normalize("NFKD");

  it("puts passwords in NFKD first: composed, decomposed and ligature forms are one password", async () => {
    expect(composed).not.toBe(decomposed);
    expect(decomposed).toContain("fi"); // the ligature became two letters
    const hash = await h.hashPassword(composed);
    expect(await h.verifyPassword(decomposed, hash)).toBe(true);
    expect(await h.verifyPassword(PASSLIB_PASSWORD.replace("ﬁ", "fi"), hash)).toBe(true);
    expect(await h.verifyPassword(decomposed, PASSLIB_HASHES.bcrypt)).toBe(true);
  });

  it("normalizeForm: null compares the text as given", async () => {
    const raw = hasher({ normalizeForm: null });
    expect(await raw.verifyPassword(composed, PASSLIB_HASHES.bcrypt)).toBe(false);
    expect(await raw.verifyPassword(decomposed, PASSLIB_HASHES.bcrypt)).toBe(true);
  });
});

describe("hashes written here have Flask-Security's format", () => {
  it("bcrypt (the 5.1 preset's): $2b$<cost>$ over base64(HMAC-SHA512(salt, password)), not over the password", async () => {
    const hash = await hasher().hashPassword("correct horse battery");
    expect(hash).toMatch(/^\$2b\$04\$[./A-Za-z0-9]{53}$/);
    const hmac = createHmac("sha512", PASSLIB_SALT).update("correct horse battery").digest("base64");
    expect(hmac).toHaveLength(88);
    expect(await bcryptLibrary().compare(hmac.slice(0, 72), hash)).toBe(true);
    expect(await bcryptLibrary().compare("correct horse battery", hash)).toBe(false);
  });

  it("bcrypt cost 12 by default, as passlib", async () => {
    expect(await new PasswordHasher({ salt: PASSLIB_SALT, flaskSecurity: "5.1" }).hashPassword("x")).toMatch(/^\$2b\$12\$/);
  });

  it.each<[string, RegExp]>([
    ["argon2", /^\$argon2id\$v=19\$m=1024,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{22}$/],
    ["pbkdf2_sha256", /^\$pbkdf2-sha256\$1000\$[./A-Za-z0-9]{22}\$[./A-Za-z0-9]{43}$/],
    ["pbkdf2_sha512", /^\$pbkdf2-sha512\$1000\$[./A-Za-z0-9]{22}\$[./A-Za-z0-9]{86}$/],
  ])("%s", async (scheme, format) => {
    const h = hasher({ scheme: scheme as "argon2" });
    const hash = await h.hashPassword(PASSLIB_PASSWORD);
    expect(hash).toMatch(format);
    expect(await h.verifyPassword(PASSLIB_PASSWORD, hash)).toBe(true);
    expect(await h.verifyPassword("wrong", hash)).toBe(false);
    expect(h.needsUpdate(hash)).toBe(false);
  });

  it("every hash gets a fresh salt", async () => {
    const h = hasher();
    expect(await h.hashPassword("same")).not.toBe(await h.hashPassword("same"));
  });
});

describe("upgrades (needsUpdate, verifyAndUpdatePassword)", () => {
  it("flags every verified scheme but the writing one (Flask-Security's deprecated = auto)", () => {
    const h = hasher();
    for (const [name, hash] of Object.entries(PASSLIB_HASHES)) {
      if (name === "single_hash_bcrypt") continue;
      expect([name, h.needsUpdate(hash)]).toEqual([name, !name.startsWith("bcrypt")]);
    }
  });

  it("flags a hash of the writing scheme below the configured cost, never one at or above it", () => {
    expect(hasher({ bcryptCost: 5 }).needsUpdate(PASSLIB_HASHES.bcrypt)).toBe(true);
    expect(hasher({ bcryptCost: 4 }).needsUpdate(PASSLIB_HASHES.bcrypt2a)).toBe(false);
    expect(hasher({ bcryptCost: 4 }).needsUpdate(PASSLIB_HASHES.bcrypt2y)).toBe(false);
    const argon2 = (costs: { memoryCost?: number; timeCost?: number }) =>
      hasher({ scheme: "argon2", argon2: { ...CHEAP_COSTS.argon2, ...costs } });
    expect(argon2({}).needsUpdate(PASSLIB_HASHES.argon2id)).toBe(false);
    expect(argon2({}).needsUpdate(PASSLIB_HASHES.argon2i)).toBe(true); // not argon2id
    expect(argon2({ memoryCost: 2048 }).needsUpdate(PASSLIB_HASHES.argon2id)).toBe(true);
    expect(argon2({ timeCost: 2 }).needsUpdate(PASSLIB_HASHES.argon2id)).toBe(true);
    // node's argon2 writes m,p,t, which Flask-Security cannot identify: verified here, then rewritten
    const nodeOrder = PASSLIB_HASHES.argon2id.replace("m=1024,t=1,p=1", "m=1024,p=1,t=1");
    expect(argon2({}).needsUpdate(nodeOrder)).toBe(true);
    const pbkdf2 = hasher({ scheme: "pbkdf2_sha512", pbkdf2Rounds: { sha512: 2000 } });
    expect(pbkdf2.needsUpdate(PASSLIB_HASHES.pbkdf2_sha512)).toBe(true);
  });

  it("verifies an argon2 hash with its parameters in node's order (m,p,t) and rewrites it in passlib's", async () => {
    const h = hasher({ scheme: "argon2" });
    const nodeOrder = PASSLIB_HASHES.argon2id.replace("m=1024,t=1,p=1", "m=1024,p=1,t=1");
    const { verified, newHash } = await h.verifyAndUpdatePassword(PASSLIB_PASSWORD, nodeOrder);
    expect(verified).toBe(true);
    expect(newHash).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$/);
  });

  it("re-hashes an outdated hash in the writing scheme when the password matches, and only then", async () => {
    const h = hasher();
    const upgraded = await h.verifyAndUpdatePassword(PASSLIB_PASSWORD, PASSLIB_HASHES.sha512_crypt);
    expect(upgraded.verified).toBe(true);
    expect(upgraded.newHash).toMatch(/^\$2b\$04\$/);
    expect(await h.verifyPassword(PASSLIB_PASSWORD, upgraded.newHash)).toBe(true);
    expect(h.needsUpdate(upgraded.newHash!)).toBe(false);
    expect(await h.verifyAndUpdatePassword("wrong", PASSLIB_HASHES.sha512_crypt)).toEqual({ verified: false, newHash: null });
    expect(await h.verifyAndUpdatePassword(PASSLIB_PASSWORD, PASSLIB_HASHES.bcrypt)).toEqual({ verified: true, newHash: null });
  });
});

describe("input", () => {
  const h = hasher({ schemes: ALL_SCHEMES });

  it.each<[string, unknown]>([
    ["null", null],
    ["undefined", undefined],
    ["empty", ""],
    ["a number", 42],
    ["an unknown format", "$1$abc$def"],
    ["des_crypt (not supported)", "9kPk/fZ83mZPo"],
    ["a truncated bcrypt", PASSLIB_HASHES.bcrypt.slice(0, 40)],
    ["a bcrypt with an impossible cost", PASSLIB_HASHES.bcrypt.replace("$04$", "$99$")],
    ["a broken argon2", PASSLIB_HASHES.argon2id.replace("$erG9", "$!!!!")],
    ["a pbkdf2 of the wrong length", PASSLIB_HASHES.pbkdf2_sha256.slice(0, -4)],
    ["a sha512_crypt with too few rounds", PASSLIB_HASHES.sha512_crypt.replace("rounds=1000", "rounds=999")],
  ])("a stored hash that is %s answers false, never throws", async (_, hash) => {
    await expect(h.verifyPassword(PASSLIB_PASSWORD, hash as string)).resolves.toBe(false);
    await expect(h.verifyAndUpdatePassword(PASSLIB_PASSWORD, hash as string)).resolves.toEqual({ verified: false, newHash: null });
  });

  it.each<[string, unknown]>([
    ["empty", ""],
    ["null", null],
    ["a number", 42],
  ])("a password to verify that is %s answers false", async (_, password) => {
    await expect(h.verifyPassword(password as string, PASSLIB_HASHES.bcrypt)).resolves.toBe(false);
  });

  it.each([
    ["more than Node's pbkdf2 computes (2^31)", "2147483648"],
    ["passlib's largest (2^32 - 1)", "4294967295"],
    ["beyond any integer", "99999999999999999999"],
  ])("a pbkdf2 hash with rounds %s answers false, never throws", async (_, rounds) => {
    for (const scheme of ["pbkdf2_sha256", "pbkdf2_sha512"] as const) {
      const hash = PASSLIB_HASHES[scheme].replace("$1000$", `$${rounds}$`);
      await expect(h.verifyPassword(PASSLIB_PASSWORD, hash)).resolves.toBe(false);
      await expect(h.verifyAndUpdatePassword(PASSLIB_PASSWORD, hash)).resolves.toEqual({ verified: false, newHash: null });
    }
  });

  it("a password with a lone surrogate: hashing refuses it, verifying answers false (it would collide with U+FFFD)", async () => {
    const pbkdf2 = hasher({ scheme: "pbkdf2_sha256" });
    for (const lone of ["pass\uD800word", "pass\uDC00word", "\uDBFF"]) {
      await expect(pbkdf2.hashPassword(lone)).rejects.toThrow(InvalidPasswordError);
      await expect(pbkdf2.hashPassword(lone)).rejects.toMatchObject({ field: "password", rule: "well-formed-unicode" });
    }
    const replacementHash = await pbkdf2.hashPassword("pass\uFFFDword");
    expect(await pbkdf2.verifyPassword("pass\uFFFDword", replacementHash)).toBe(true);
    expect(await pbkdf2.verifyPassword("pass\uD800word", replacementHash)).toBe(false);
    expect(await pbkdf2.verifyPassword("pass\uDC00word", replacementHash)).toBe(false);
    // A well-formed pair is one character and hashes as such.
    const astral = await pbkdf2.hashPassword("pass\uD83D\uDE00word");
    expect(await pbkdf2.verifyPassword("pass😀word", astral)).toBe(true);
  });

  it("a password to hash that is empty or not a string is an InvalidPasswordError", async () => {
    await expect(h.hashPassword("")).rejects.toThrow(InvalidPasswordError);
    await expect(h.hashPassword(null as unknown as string)).rejects.toMatchObject({ field: "password", rule: "password-required" });
  });

  it("a scheme left out of schemes does not verify", async () => {
    const bcryptOnly = hasher({ schemes: ["bcrypt"] });
    expect(bcryptOnly.identify(PASSLIB_HASHES.argon2id)).toBeUndefined();
    expect(await bcryptOnly.verifyPassword(PASSLIB_PASSWORD, PASSLIB_HASHES.argon2id)).toBe(false);
  });

  it("plaintext verifies only when listed, comes last whatever its place, and is always upgraded", async () => {
    const plain = PASSLIB_PASSWORD.normalize("NFKD");
    expect(await h.verifyPassword(PASSLIB_PASSWORD, plain)).toBe(false);
    const withPlaintext = hasher({ schemes: ["plaintext", "bcrypt"] });
    expect(await withPlaintext.verifyPassword(PASSLIB_PASSWORD, plain)).toBe(true);
    expect(await withPlaintext.verifyPassword("other", plain)).toBe(false);
    expect(withPlaintext.identify(PASSLIB_HASHES.bcrypt)).toBe("bcrypt");
    expect(withPlaintext.needsUpdate(plain)).toBe(true);
  });
});
