/** The two base64 dialects passlib writes into hashes. */

/** crypt(3)'s alphabet, used by SHA-crypt (and bcrypt). */
export const CRYPT_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** passlib's "adapted base64" (`ab64`), used by its pbkdf2 hashes: standard base64 with `.` for `+`, no padding. */
export function encodeAb64(bytes: Buffer): string {
  return bytes.toString("base64").replace(/=+$/, "").replace(/\+/g, ".");
}

/** Decodes passlib's adapted base64, or returns undefined when the text is not that. */
export function decodeAb64(text: string): Buffer | undefined {
  if (!/^[./0-9A-Za-z]*$/.test(text) || text.length % 4 === 1) return undefined;
  return Buffer.from(text.replace(/\./g, "+"), "base64");
}
