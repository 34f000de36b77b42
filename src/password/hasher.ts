/**
 * PasswordHasher: hashes and verifies passwords exactly as Flask-Security does (the release line named by
 * `flaskSecurity`), so a Node service and a Flask-Security app that share a user table accept the same
 * passwords and keep each other's fresh hashes. Create one at start-up from the Flask-Security app's settings
 * and share it (a NestJS provider, or `User.passwordHasher = hasher`).
 */
import { createHmac } from "crypto";
import { InvalidPasswordError } from "./errors";
import {
  FLASK_SECURITY_PRESETS,
  FLASK_SECURITY_RELEASES,
  FlaskSecurityRelease,
  HashingSchemeName,
  PasswordHasherOptions,
  PasswordSchemeName,
  PasswordSettings,
  resolvePasswordSettings,
} from "./options";
import { PASSWORD_SCHEMES, PasswordScheme } from "./schemes";
import { hasLoneSurrogate } from "../unicode";

/** What `verifyAndUpdatePassword` found: whether the password matched, and the new hash to store if it was re-hashed. */
export interface PasswordVerification {
  /** Whether the password matches the stored hash. */
  verified: boolean;
  /** A fresh hash in the configured scheme and cost when the stored one was outdated (store it), else null. */
  newHash: string | null;
}

/** Hashes and verifies passwords with a Flask-Security app's settings (salt, schemes, normalisation). */
export class PasswordHasher {
  // A private field: the settings hold the salt, which must not show up in console.log or util.inspect.
  readonly #settings: PasswordSettings;

  /**
   * Checks the settings and loads the library of the scheme that writes hashes.
   * @throws PasswordConfigError for a missing salt or another unusable setting (naming it and the fix).
   * @throws PasswordSchemeUnavailableError when the writing scheme's npm package is not installed.
   */
  constructor(options: PasswordHasherOptions) {
    this.#settings = resolvePasswordSettings(options);
    // A scheme that came from the preset, maybe the default one, may be missing only because the app shares
    // its database with another release line: the error then names the preset that writes another scheme.
    PASSWORD_SCHEMES[this.#settings.scheme].loadLibrary?.(
      options.scheme === undefined ? presetAdvice(this.#settings.flaskSecurity, options) : "",
    );
  }

  /** The scheme new hashes are written with. */
  get scheme(): HashingSchemeName {
    return this.#settings.scheme;
  }

  /** The Flask-Security release line whose defaults this hasher follows (`flaskSecurity`). */
  get flaskSecurity(): FlaskSecurityRelease {
    return this.#settings.flaskSecurity;
  }

  /**
   * A new hash of the password for the `password` column, as Flask-Security's `hash_password` after its
   * forms' normalisation: normalise (NFKD), HMAC-SHA512 with the salt, base64, then the scheme (argon2 or bcrypt).
   * @throws InvalidPasswordError when the password is not a non-empty string, or holds a lone surrogate.
   */
  async hashPassword(password: string): Promise<string> {
    if (typeof password !== "string" || password.length === 0) {
      throw new InvalidPasswordError(
        "PasswordHasher",
        "password",
        "password-required",
        "the password to hash must be a non-empty string; check the app's length rules before hashing.",
      );
    }
    if (hasLoneSurrogate(password)) {
      // UTF-8 encoding would turn it into U+FFFD, so every such password would be the same one; Flask-Security refuses them.
      throw new InvalidPasswordError(
        "PasswordHasher",
        "password",
        "well-formed-unicode",
        "the password to hash holds a lone surrogate (half of a UTF-16 pair), which is not text; refuse it as Flask-Security does.",
      );
    }
    const scheme = PASSWORD_SCHEMES[this.#settings.scheme];
    return scheme.hash!(this.secretFor(scheme, password), this.#settings);
  }

  /**
   * Whether the password matches the stored hash (Flask-Security's `verify_password` after normalisation).
   * Never throws on input: a missing, empty or unrecognised hash, a scheme not in `schemes`, or a password
   * holding a lone surrogate (which `hashPassword` refuses) answers false.
   * @throws PasswordSchemeUnavailableError when the hash's scheme needs an npm package that is not installed.
   */
  async verifyPassword(password: string, hash: string | null | undefined): Promise<boolean> {
    if (typeof password !== "string" || password.length === 0 || hasLoneSurrogate(password) || typeof hash !== "string") return false;
    const scheme = this.schemeOf(hash);
    if (!scheme) return false;
    return scheme.verify(this.secretFor(scheme, password), hash);
  }

  /**
   * Verifies, and when the stored hash is outdated (`needsUpdate`) and the password matched, also returns a
   * new hash to store: Flask-Security's `verify_and_update_password`.
   */
  async verifyAndUpdatePassword(password: string, hash: string | null | undefined): Promise<PasswordVerification> {
    const verified = await this.verifyPassword(password, hash);
    const newHash = verified && this.needsUpdate(hash!) ? await this.hashPassword(password) : null;
    return { verified, newHash };
  }

  /**
   * Whether a stored hash should be replaced at the next sign-in: it uses another scheme than `scheme`
   * (Flask-Security's "auto" deprecation), or the configured scheme below the configured cost (bcrypt cost,
   * argon2 memory, time or hash length, pbkdf2 rounds). Flask-Security itself never flags bcrypt for its cost.
   * False for a hash no configured scheme recognises.
   */
  needsUpdate(hash: string): boolean {
    const scheme = typeof hash === "string" ? this.schemeOf(hash) : undefined;
    if (!scheme) return false;
    if (scheme.name !== this.#settings.scheme) return true;
    return scheme.weakerThanConfigured?.(hash, this.#settings) ?? false;
  }

  /** The configured scheme the stored hash is written in, or undefined when none recognises it. */
  identify(hash: string): PasswordSchemeName | undefined {
    return typeof hash === "string" ? this.schemeOf(hash)?.name : undefined;
  }

  private schemeOf(hash: string): PasswordScheme | undefined {
    const { schemes } = this.#settings;
    // plaintext recognises any text, so it is tried last whatever its place in the list (passlib's rule).
    const named = schemes.find((name) => name !== "plaintext" && PASSWORD_SCHEMES[name].identify(hash));
    return named ? PASSWORD_SCHEMES[named] : schemes.includes("plaintext") && hash.length > 0 ? PASSWORD_SCHEMES.plaintext : undefined;
  }

  /** What the scheme hashes: base64(HMAC-SHA512(salt, normalised password)), or the normalised password itself. */
  private secretFor(scheme: PasswordScheme, password: string): string {
    const { normalizeForm, singleHash, salt } = this.#settings;
    const normalised = normalizeForm ? password.normalize(normalizeForm) : password;
    if (singleHash.has(scheme.name)) return normalised;
    return createHmac("sha512", salt).update(normalised, "utf8").digest("base64");
  }
}

/** What a missing library error adds when the writing scheme came from the preset `release`. */
function presetAdvice(release: FlaskSecurityRelease, options: PasswordHasherOptions): string {
  const others = FLASK_SECURITY_RELEASES.filter((other) => other !== release).map((other) => {
    const { scheme } = FLASK_SECURITY_PRESETS[other];
    return `flaskSecurity: "${other}" if the Flask-Security app is ${releaseLine(other)} (it writes ${scheme}; npm install ${scheme})`;
  });
  const which = options.flaskSecurity === undefined ? `the default preset, "${release}"` : `flaskSecurity: "${release}"`;
  return `. It is the scheme Flask-Security ${releaseLine(release)} writes (${which}). Or pass ${others.join(", or ")}.`;
}

/** How messages name a release line: "5.5 or later", "older than 5.5". */
function releaseLine(release: FlaskSecurityRelease): string {
  const index = FLASK_SECURITY_RELEASES.indexOf(release);
  return index === 0 ? `${release} or later` : `older than ${FLASK_SECURITY_RELEASES[index - 1]}`;
}
