/**
 * The password schemes as one table: how each recognises a stored hash (passlib's `identify`), verifies a
 * secret against it, writes a new hash, and tells whether a hash is below the configured cost. The secret is
 * what Flask-Security feeds the scheme: base64(HMAC-SHA512(salt, password)), or the password itself for a
 * single-hash scheme (see hasher.ts).
 */
import { createHash, pbkdf2, randomBytes, timingSafeEqual } from "crypto";
import { promisify } from "util";
import { argon2Library, bcryptLibrary } from "./libraries";
import { decodeAb64, encodeAb64 } from "./encodings";
import { PasswordSchemeUnavailableError } from "./errors";
import { PBKDF2_MAX_ROUNDS } from "./options";
import type { PasswordSchemeName, PasswordSettings } from "./options";
import { parseShaCrypt, SHA256_CRYPT, SHA512_CRYPT, shaCryptChecksum } from "./sha-crypt";

/** One scheme: the hasher picks the first configured scheme whose `identify` accepts the stored hash. */
export interface PasswordScheme {
  readonly name: PasswordSchemeName;
  /**
   * Loads the scheme's npm package, if it needs one. @param advice a sentence the error adds after its fix.
   * @throws PasswordSchemeUnavailableError when missing.
   */
  readonly loadLibrary?: (advice?: string) => unknown;
  /** Whether the stored hash is of this scheme, by its format. */
  identify(hash: string): boolean;
  /** Whether the secret matches the hash; false (never an error) for a malformed hash. */
  verify(secret: string, hash: string): Promise<boolean>;
  /** Writes a new hash with the configured cost; absent for verify-only schemes. */
  hash?(secret: string, settings: PasswordSettings): Promise<string>;
  /** Whether a hash of this scheme is weaker than what `hash` would write now (so it is upgraded on sign-in). */
  weakerThanConfigured?(hash: string, settings: PasswordSettings): boolean;
}

/**
 * The library's answer, or false when it refuses the stored hash as malformed; a missing library is a
 * configuration problem and still throws.
 */
async function falseIfMalformed(check: () => Promise<boolean>): Promise<boolean> {
  try {
    return await check();
  } catch (error) {
    if (error instanceof PasswordSchemeUnavailableError) throw error;
    return false;
  }
}

/** Equal-length, constant-time comparison of two byte strings. */
function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

// ---- bcrypt: Flask-Security's default, `$2b$12$<22 salt><31 hash>` --------------------------------------

const BCRYPT = /^\$2([aby])\$(\d\d)\$[./A-Za-z0-9]{53}$/;

/**
 * bcrypt reads at most 72 bytes; passlib cuts the 88-character HMAC there too. Cutting here keeps the result
 * the same with a library that would refuse longer input instead of cutting it.
 */
function bcryptInput(secret: string): Buffer {
  return Buffer.from(secret, "utf8").subarray(0, 72);
}

const bcryptScheme: PasswordScheme = {
  name: "bcrypt",
  loadLibrary: bcryptLibrary,
  identify: (hash) => BCRYPT.test(hash),
  async verify(secret, hash) {
    // $2y$ (PHP's name) is the same algorithm as $2b$; node's bcrypt only knows $2a$ and $2b$.
    const normalised = hash.startsWith("$2y$") ? `$2b$${hash.slice(4)}` : hash;
    return falseIfMalformed(() => bcryptLibrary().compare(bcryptInput(secret), normalised));
  },
  hash: (secret, settings) => bcryptLibrary().hash(bcryptInput(secret), settings.bcryptCost),
  weakerThanConfigured: (hash, settings) => Number(BCRYPT.exec(hash)![2]) < settings.bcryptCost,
};

// ---- argon2: `$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>` as passlib writes it ---------------------------

const ARGON2 = /^\$argon2(id|i|d)\$(?:v=(\d+)\$)?([a-z]+=[^$,]*(?:,[a-z]+=[^$,]*)*)\$([^$]+)\$([^$]+)$/;

/** The parameter order passlib (so Flask-Security) requires. */
const PASSLIB_ARGON2_ORDER = /\$m=\d+,t=\d+,p=\d+[$,]/;

/** The parts of an argon2 hash, its parameters in any order (node's argon2 writes `m,p,t`; passlib reads only `m,t,p`). */
function parseArgon2(hash: string) {
  const match = ARGON2.exec(hash);
  if (!match) return undefined;
  const parameters = new Map(match[3].split(",").map((pair) => pair.split("=") as [string, string]));
  const [m, t, p] = ["m", "t", "p"].map((key) => Number(parameters.get(key)));
  if (![m, t, p].every((n) => Number.isInteger(n) && n > 0)) return undefined;
  return { type: match[1], version: Number(match[2] ?? 16), m, t, p, salt: match[4], checksum: match[5] };
}

const argon2Scheme: PasswordScheme = {
  name: "argon2",
  loadLibrary: argon2Library,
  identify: (hash) => parseArgon2(hash) !== undefined,
  verify: (secret, hash) => falseIfMalformed(() => argon2Library().verify(hash, secret)),
  async hash(secret, settings) {
    const argon2 = argon2Library();
    // passlib flags any hash length but its configured one for re-hashing, so the length is a setting too.
    const written = parseArgon2(await argon2.hash(secret, { type: argon2.argon2id, ...settings.argon2 }))!;
    // Re-written with the parameters in passlib's order: Flask-Security cannot even identify `m=…,p=…,t=…`.
    return `$argon2id$v=${written.version}$m=${written.m},t=${written.t},p=${written.p}$${written.salt}$${written.checksum}`;
  },
  weakerThanConfigured(hash, settings) {
    const { type, version, m, t, checksum } = parseArgon2(hash)!;
    const { memoryCost, timeCost, hashLength } = settings.argon2;
    const shorter = Buffer.from(checksum, "base64").length < hashLength;
    const weaker = type !== "id" || version < 19 || m < memoryCost || t < timeCost || shorter;
    // A hash another Node app wrote in `m,p,t` order verifies here but not in Flask-Security: rewrite it too.
    return weaker || !PASSLIB_ARGON2_ORDER.test(hash);
  },
};

// ---- pbkdf2 as passlib writes it: `$pbkdf2-sha512$<rounds>$<ab64 salt>$<ab64 hash>` ------------------------

const pbkdf2Async = promisify(pbkdf2);

function pbkdf2Scheme(name: "pbkdf2_sha256" | "pbkdf2_sha512", digest: "sha256" | "sha512", keyLength: number): PasswordScheme {
  const pattern = new RegExp(`^\\$pbkdf2-${digest}\\$([1-9][0-9]*)\\$([./A-Za-z0-9]*)\\$([./A-Za-z0-9]+)$`);
  const parse = (hash: string) => {
    const match = pattern.exec(hash);
    if (!match) return undefined;
    const salt = decodeAb64(match[2]);
    const checksum = decodeAb64(match[3]);
    const rounds = Number(match[1]);
    // passlib allows more rounds than Node computes; such a hash cannot be checked here, so it is malformed.
    if (!salt || !checksum || checksum.length !== keyLength || rounds > PBKDF2_MAX_ROUNDS) return undefined;
    return { rounds, salt, checksum };
  };
  const roundsFor = (settings: PasswordSettings) => settings.pbkdf2Rounds[digest];
  return {
    name,
    identify: (hash) => hash.startsWith(`$pbkdf2-${digest}$`),
    async verify(secret, hash) {
      const parsed = parse(hash);
      if (!parsed) return false;
      const computed = await pbkdf2Async(Buffer.from(secret, "utf8"), parsed.salt, parsed.rounds, keyLength, digest);
      return sameBytes(computed, parsed.checksum);
    },
    async hash(secret, settings) {
      const salt = randomBytes(16);
      const rounds = roundsFor(settings);
      const checksum = await pbkdf2Async(Buffer.from(secret, "utf8"), salt, rounds, keyLength, digest);
      return `$pbkdf2-${digest}$${rounds}$${encodeAb64(salt)}$${encodeAb64(checksum)}`;
    },
    weakerThanConfigured: (hash, settings) => (parse(hash)?.rounds ?? 0) < roundsFor(settings),
  };
}

// ---- sha256_crypt / sha512_crypt: verify only (see sha-crypt.ts) ----------------------------------------

function shaCryptScheme(name: "sha256_crypt" | "sha512_crypt", variant: typeof SHA256_CRYPT): PasswordScheme {
  return {
    name,
    identify: (hash) => hash.startsWith(variant.prefix),
    async verify(secret, hash) {
      const parsed = parseShaCrypt(variant, hash);
      if (!parsed) return false;
      const checksum = await shaCryptChecksum(variant, Buffer.from(secret, "utf8"), parsed.salt, parsed.rounds);
      return sameBytes(Buffer.from(checksum), Buffer.from(parsed.checksum));
    },
  };
}

// ---- plaintext: only when listed; matches any stored text, so it must come last ----------------------------

const plaintextScheme: PasswordScheme = {
  name: "plaintext",
  identify: () => true,
  verify(secret, hash) {
    // Compare digests so the time taken does not depend on where the texts differ or on their lengths.
    const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();
    return Promise.resolve(sameBytes(digest(secret), digest(hash)));
  },
};

/** Every supported scheme by name. */
export const PASSWORD_SCHEMES: Readonly<Record<PasswordSchemeName, PasswordScheme>> = {
  bcrypt: bcryptScheme,
  argon2: argon2Scheme,
  pbkdf2_sha256: pbkdf2Scheme("pbkdf2_sha256", "sha256", 32),
  pbkdf2_sha512: pbkdf2Scheme("pbkdf2_sha512", "sha512", 64),
  sha256_crypt: shaCryptScheme("sha256_crypt", SHA256_CRYPT),
  sha512_crypt: shaCryptScheme("sha512_crypt", SHA512_CRYPT),
  plaintext: plaintextScheme,
};
