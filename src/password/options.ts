/**
 * The hasher's settings, named after the Flask-Security settings they mirror, with the defaults of the
 * Flask-Security release line the app shares its database with (a preset), checked once when the hasher is
 * created.
 */
import { PasswordConfigError } from "./errors";

/** Every scheme this package can verify, named as Flask-Security's `SECURITY_PASSWORD_SCHEMES` names them. */
export const PASSWORD_SCHEME_NAMES = [
  "bcrypt",
  "argon2",
  "pbkdf2_sha256",
  "pbkdf2_sha512",
  "sha256_crypt",
  "sha512_crypt",
  "plaintext",
] as const;

/** A scheme this package can verify. */
export type PasswordSchemeName = (typeof PASSWORD_SCHEME_NAMES)[number];

/** A scheme this package can also write (`SECURITY_PASSWORD_HASH`); the others are only verified, then upgraded. */
export type HashingSchemeName = "bcrypt" | "argon2" | "pbkdf2_sha256" | "pbkdf2_sha512";

const HASHING_SCHEMES: readonly string[] = ["bcrypt", "argon2", "pbkdf2_sha256", "pbkdf2_sha512"];

/**
 * The Flask-Security release lines whose password defaults differ, as `flaskSecurity` names them: "5.5" for
 * 5.5 and every later release, "5.1" for the releases before 5.5 (bcrypt by default). The first is the default.
 */
export const FLASK_SECURITY_RELEASES = ["5.5", "5.1"] as const;

/** A Flask-Security release line `flaskSecurity` accepts. */
export type FlaskSecurityRelease = (typeof FLASK_SECURITY_RELEASES)[number];

/** argon2id's parameters, as passlib reads them from a hash: memory (KiB), passes, lanes, and hash bytes. */
export interface Argon2Parameters {
  readonly memoryCost: number;
  readonly timeCost: number;
  readonly parallelism: number;
  readonly hashLength: number;
}

/** What a release line writes with its default configuration: the scheme, and the costs of those that differ. */
interface FlaskSecurityPreset {
  readonly scheme: HashingSchemeName;
  readonly argon2: Argon2Parameters;
}

/**
 * Each release line's defaults. passlib (and libpass, its fork that Flask-Security uses since 5.7) takes the
 * argon2 parameters it writes from argon2-cffi's `PasswordHasher()` defaults, except what Flask-Security sets in
 * `SECURITY_PASSWORD_HASH_PASSLIB_OPTIONS`; its `needs_update` flags an argon2 hash whose memory, parallelism or
 * hash length differs from those by any amount, so these must be exact.
 */
export const FLASK_SECURITY_PRESETS: Readonly<Record<FlaskSecurityRelease, FlaskSecurityPreset>> = {
  // 5.5 and later: SECURITY_PASSWORD_HASH "argon2" and no passlib options, so every parameter is argon2-cffi's
  // default since its 21.2 (RFC 9106's low-memory profile); 5.5 asks for argon2-cffi >= 21.3, 5.9 for >= 25.1,
  // which still defaults to that profile.
  "5.5": { scheme: "argon2", argon2: { memoryCost: 65536, timeCost: 3, parallelism: 4, hashLength: 32 } },
  // Before 5.5: SECURITY_PASSWORD_HASH "bcrypt"; for argon2 the passlib option argon2__rounds = 10, the rest
  // argon2-cffi 21.1's defaults (Debian 12's, which the interop suite runs; a newer argon2-cffi writes 5.5's
  // memory, lanes and length with t=10: set `argon2` to match).
  "5.1": { scheme: "bcrypt", argon2: { memoryCost: 102400, timeCost: 10, parallelism: 8, hashLength: 16 } },
};

/** The Unicode normal forms `SECURITY_PASSWORD_NORMALIZE_FORM` may name. */
export type NormalizeForm = "NFC" | "NFD" | "NFKC" | "NFKD";

/** What `new PasswordHasher(options)` takes. Only `salt` is required. */
export interface PasswordHasherOptions {
  /**
   * The Flask-Security release the app shares its database with: `"5.5"` (5.5 and later, argon2; the default)
   * or `"5.1"` (earlier releases, bcrypt). Sets `scheme` and `argon2` to what that release writes by default;
   * options given beside it win.
   */
  flaskSecurity?: FlaskSecurityRelease;
  /**
   * The Flask-Security app's `SECURITY_PASSWORD_SALT`, the same string: the HMAC key of every hash. Required
   * (unless `singleHash: true`).
   */
  salt: string | undefined;
  /** The scheme new hashes are written with (`SECURITY_PASSWORD_HASH`). Default: the preset's (argon2 or bcrypt). */
  scheme?: HashingSchemeName;
  /**
   * The schemes a stored hash may use and still verify (`SECURITY_PASSWORD_SCHEMES`). Default: bcrypt, argon2,
   * pbkdf2_sha256, pbkdf2_sha512, sha256_crypt, sha512_crypt (Flask-Security's list without des_crypt, which this
   * package does not support, and plaintext, which it verifies only when listed). A verified hash of any scheme
   * but `scheme` is re-hashed (Flask-Security's `SECURITY_DEPRECATED_PASSWORD_SCHEMES = ["auto"]`).
   */
  schemes?: readonly PasswordSchemeName[];
  /**
   * `SECURITY_PASSWORD_SINGLE_HASH`: the schemes that hash the password itself instead of the HMAC of it, or
   * `true` for all. Default: none (plaintext always stores the password itself), as Flask-Security's default.
   */
  singleHash?: boolean | readonly PasswordSchemeName[];
  /** `SECURITY_PASSWORD_NORMALIZE_FORM`: the Unicode form passwords are put in first. Default `"NFKD"`; `null` for none. */
  normalizeForm?: NormalizeForm | null;
  /** bcrypt's cost (log2 of its rounds), 4-31. Default 12, as passlib. A stored bcrypt hash below it is upgraded. */
  bcryptCost?: number;
  /**
   * argon2id's parameters. Default: the preset's (5.5: `m=65536,t=3,p=4`, 32-byte hash; 5.1: `m=102400,t=10,p=8`,
   * 16-byte hash). A stored argon2 hash of lower memory or time cost, a shorter hash, or not argon2id, is upgraded.
   */
  argon2?: { memoryCost?: number; timeCost?: number; parallelism?: number; hashLength?: number };
  /**
   * pbkdf2 rounds for new pbkdf2 hashes and the floor below which stored ones are upgraded. Default 600,000
   * (sha256) and 210,000 (sha512), OWASP's 2023 figures; passlib writes 29,000 and 25,000.
   */
  pbkdf2Rounds?: { sha256?: number; sha512?: number };
}

/** The settings with every default filled in and every value checked. */
export interface PasswordSettings {
  readonly flaskSecurity: FlaskSecurityRelease;
  readonly salt: Buffer;
  readonly scheme: HashingSchemeName;
  readonly schemes: readonly PasswordSchemeName[];
  readonly singleHash: ReadonlySet<PasswordSchemeName>;
  readonly normalizeForm: NormalizeForm | null;
  readonly bcryptCost: number;
  readonly argon2: Argon2Parameters;
  readonly pbkdf2Rounds: { readonly sha256: number; readonly sha512: number };
}

/** `schemes` when the app does not say: every one but plaintext, which is verified only when listed. */
export const DEFAULT_SCHEMES: readonly PasswordSchemeName[] = PASSWORD_SCHEME_NAMES.filter((name) => name !== "plaintext");

/** The most pbkdf2 rounds Node's `crypto.pbkdf2` accepts (a 32-bit signed integer); passlib allows up to 2^32 - 1. */
export const PBKDF2_MAX_ROUNDS = 2 ** 31 - 1;

function configError(field: string, rule: string, message: string): PasswordConfigError {
  return new PasswordConfigError("PasswordHasher", field, rule, message);
}

function integerIn(field: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw configError(field, "out-of-range", `${field} must be a whole number from ${min} to ${max}.`);
  }
  return value;
}

/** Checks the options and fills in the defaults. @throws PasswordConfigError naming the setting and the fix. */
export function resolvePasswordSettings(options: PasswordHasherOptions): PasswordSettings {
  if (options === null || typeof options !== "object") {
    throw configError(
      "options",
      "options-required",
      "pass the settings object: new PasswordHasher({ salt: process.env.SECURITY_PASSWORD_SALT }).",
    );
  }
  const flaskSecurity = options.flaskSecurity ?? FLASK_SECURITY_RELEASES[0];
  if (!(FLASK_SECURITY_RELEASES as readonly string[]).includes(flaskSecurity)) {
    throw configError(
      "flaskSecurity",
      "unknown-release",
      `flaskSecurity "${String(flaskSecurity)}" is not a release line with its own password defaults; use "5.5" ` +
        `for Flask-Security 5.5 and later (argon2) or "5.1" for earlier releases (bcrypt).`,
    );
  }
  const preset = FLASK_SECURITY_PRESETS[flaskSecurity];
  const { salt } = options;
  const single = options.singleHash ?? false;
  // Only an app that hashes every password without the HMAC (singleHash: true) can do without a salt.
  if (single !== true && (typeof salt !== "string" || salt.length === 0)) {
    throw configError(
      "salt",
      "salt-required",
      `salt is ${salt === undefined || salt === null ? "missing" : typeof salt !== "string" ? "not a string" : "empty"}: ` +
        "every hash is keyed with it, and there is no safe default. Fix: set it to the same value as the Flask-Security " +
        "app's SECURITY_PASSWORD_SALT, e.g. new PasswordHasher({ salt: process.env.SECURITY_PASSWORD_SALT }), and make sure that variable is set.",
    );
  }
  const schemes = options.schemes ?? DEFAULT_SCHEMES;
  if (!Array.isArray(schemes) || schemes.length === 0) {
    throw configError("schemes", "schemes-required", `schemes must be a non-empty list of: ${PASSWORD_SCHEME_NAMES.join(", ")}.`);
  }
  for (const name of schemes) {
    if (!(PASSWORD_SCHEME_NAMES as readonly string[]).includes(name)) {
      throw configError(
        "schemes",
        "unknown-scheme",
        `schemes lists "${String(name)}", which this package does not support; it supports ${PASSWORD_SCHEME_NAMES.join(", ")}.`,
      );
    }
  }
  const scheme = options.scheme ?? preset.scheme;
  if (!HASHING_SCHEMES.includes(scheme)) {
    throw configError(
      "scheme",
      "unknown-scheme",
      `scheme "${String(scheme)}" cannot write hashes; use one of ${HASHING_SCHEMES.join(", ")}.`,
    );
  }
  if (!schemes.includes(scheme)) {
    throw configError(
      "scheme",
      "scheme-not-listed",
      `scheme "${scheme}" must also be in schemes (Flask-Security's rule), or its own hashes would not verify.`,
    );
  }
  const normalizeForm = options.normalizeForm === undefined ? "NFKD" : options.normalizeForm;
  if (normalizeForm !== null && !["NFC", "NFD", "NFKC", "NFKD"].includes(normalizeForm)) {
    throw configError("normalizeForm", "unknown-form", "normalizeForm must be NFC, NFD, NFKC, NFKD or null (no normalisation).");
  }
  const singleHash = new Set<PasswordSchemeName>(single === true ? PASSWORD_SCHEME_NAMES : single === false ? [] : single);
  singleHash.add("plaintext");
  return {
    flaskSecurity,
    salt: Buffer.from(typeof salt === "string" ? salt : "", "utf8"),
    scheme,
    schemes: [...schemes],
    singleHash,
    normalizeForm,
    bcryptCost: integerIn("bcryptCost", options.bcryptCost, 12, 4, 31),
    argon2: {
      memoryCost: integerIn("argon2.memoryCost", options.argon2?.memoryCost, preset.argon2.memoryCost, 1024, 2 ** 32 - 1),
      timeCost: integerIn("argon2.timeCost", options.argon2?.timeCost, preset.argon2.timeCost, 1, 2 ** 32 - 1),
      parallelism: integerIn("argon2.parallelism", options.argon2?.parallelism, preset.argon2.parallelism, 1, 255),
      // passlib refuses a configured length below 16 bytes; 64 keeps the whole hash well inside the password
      // column's varchar(255).
      hashLength: integerIn("argon2.hashLength", options.argon2?.hashLength, preset.argon2.hashLength, 16, 64),
    },
    pbkdf2Rounds: {
      sha256: integerIn("pbkdf2Rounds.sha256", options.pbkdf2Rounds?.sha256, 600000, 1000, PBKDF2_MAX_ROUNDS),
      sha512: integerIn("pbkdf2Rounds.sha512", options.pbkdf2Rounds?.sha512, 210000, 1000, PBKDF2_MAX_ROUNDS),
    },
  };
}
