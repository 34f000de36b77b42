/**
 * The optional peer dependencies that do the slow, native part of hashing: `bcrypt` (kelektiv/node.bcrypt.js)
 * and `argon2` (ranisalt/node-argon2). Both ship prebuilt binaries inside their npm tarballs. They are loaded
 * on first use, so an app installs only what its hashes need; a missing one is a typed error naming the
 * package to install. Only the calls this package makes are typed here, so compiling needs neither.
 */
import { PasswordSchemeUnavailableError } from "./errors";

/** The part of `bcrypt` (>= 5.1) this package calls. */
export interface BcryptLibrary {
  hash(data: string | Buffer, saltOrRounds: number): Promise<string>;
  compare(data: string | Buffer, encrypted: string): Promise<boolean>;
}

/** The part of `argon2` (>= 0.40) this package calls. */
export interface Argon2Library {
  readonly argon2id: number;
  hash(
    password: string | Buffer,
    options: { type: number; memoryCost: number; timeCost: number; parallelism: number; hashLength: number },
  ): Promise<string>;
  verify(digest: string, password: string | Buffer): Promise<boolean>;
}

/** Which scheme needs which package: the error names both. */
const PACKAGE_OF = { bcrypt: "bcrypt", argon2: "argon2" } as const;

const loaded = new Map<string, unknown>();

function load<T>(name: keyof typeof PACKAGE_OF, advice = ""): T {
  const cached = loaded.get(name);
  if (cached) return cached as T;
  const packageName = PACKAGE_OF[name];
  let library: T;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    library = require(packageName) as T;
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND";
    throw new PasswordSchemeUnavailableError(
      "PasswordHasher",
      "schemes",
      "scheme-library-missing",
      `the ${name} scheme needs the npm package "${packageName}", which ${missing ? "is not installed" : "failed to load"}. ` +
        `Fix: npm install ${packageName}` +
        (missing ? "" : ` (load error: ${(cause as Error).message})`) +
        advice,
    );
  }
  loaded.set(name, library);
  return library;
}

/**
 * `bcrypt`, loaded on first use. @param advice a sentence the error adds after its fix.
 * @throws PasswordSchemeUnavailableError when it is not installed.
 */
export function bcryptLibrary(advice?: string): BcryptLibrary {
  return load<BcryptLibrary>("bcrypt", advice);
}

/**
 * `argon2`, loaded on first use. @param advice a sentence the error adds after its fix.
 * @throws PasswordSchemeUnavailableError when it is not installed.
 */
export function argon2Library(advice?: string): Argon2Library {
  return load<Argon2Library>("argon2", advice);
}
