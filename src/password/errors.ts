/**
 * Errors of the password hasher. Like every error of this package they extend SecurityModelError, name the
 * setting or field and the fix, and never carry a password, a hash or the salt.
 */
import { SecurityModelError } from "../errors";

/**
 * The hasher's settings are unusable (a missing salt, an unknown scheme, a cost out of range). Thrown when
 * the `PasswordHasher` is created, so a misconfigured app fails at start-up rather than at a user's sign-in.
 */
export class PasswordConfigError extends SecurityModelError {}

/**
 * A scheme's npm package (`bcrypt`, `argon2`) is not installed. They are optional peer dependencies: an app
 * installs the ones its hashes need.
 */
export class PasswordSchemeUnavailableError extends SecurityModelError {}

/**
 * A password operation ran without a hasher: neither passed in nor set on the user class
 * (`User.passwordHasher = new PasswordHasher({ salt })`).
 */
export class PasswordHasherMissingError extends SecurityModelError {}

/** A password to hash is not a non-empty string (verifying never throws on input: it answers false). */
export class InvalidPasswordError extends SecurityModelError {}
