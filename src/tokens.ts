/**
 * Random tokens for the identity columns (`fs_uniquifier`, `fs_token_uniquifier`,
 * `fs_webauthn_user_handle`): Flask-Security uses `uuid4().hex`; we use 32 bytes from the operating system's
 * cryptographic source, written as 64 lowercase hex characters, which fills the column exactly and is read by
 * Flask-Security as any other string.
 */
import { randomBytes } from "crypto";

/** A new unguessable identity token: 64 lowercase hex characters from `crypto.randomBytes`. */
export function newIdentityToken(): string {
  return randomBytes(32).toString("hex");
}
