/** Passwords that Flask-Security can verify, and the other way round: the public part of src/password. */
export { PasswordHasher } from "./hasher";
export { FLASK_SECURITY_RELEASES } from "./options";
export type { PasswordVerification } from "./hasher";
export type { PasswordHasherOptions, PasswordSchemeName, HashingSchemeName, NormalizeForm, FlaskSecurityRelease } from "./options";
export { PasswordConfigError, PasswordSchemeUnavailableError, PasswordHasherMissingError, InvalidPasswordError } from "./errors";
