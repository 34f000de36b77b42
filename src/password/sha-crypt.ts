/**
 * sha256_crypt and sha512_crypt (`$5$…`, `$6$…`, Ulrich Drepper's SHA-crypt), verify only: the schemes old
 * Flask-Security apps were told to set (`SECURITY_PASSWORD_HASH = "sha512_crypt"`), so users of such an app
 * can still sign in here and get their hash upgraded. Node has no crypt(3), so this follows the published
 * algorithm over `crypto.createHash`; the interop suite checks it against passlib's hashes.
 */
import { createHash, hash as oneShotHash } from "crypto";
import { CRYPT_ALPHABET } from "./encodings";

/** One variant: its digest, its prefix and the byte order of its final encoding (passlib's transpose maps). */
interface ShaCryptVariant {
  readonly digest: "sha256" | "sha512";
  readonly prefix: "$5$" | "$6$";
  readonly transpose: readonly number[];
}

export const SHA256_CRYPT: ShaCryptVariant = {
  digest: "sha256",
  prefix: "$5$",
  transpose: [20, 10, 0, 11, 1, 21, 2, 22, 12, 23, 13, 3, 14, 4, 24, 5, 25, 15, 26, 16, 6, 17, 7, 27, 8, 28, 18, 29, 19, 9, 30, 31],
};

export const SHA512_CRYPT: ShaCryptVariant = {
  digest: "sha512",
  prefix: "$6$",
  transpose: [
    42, 21, 0, 1, 43, 22, 23, 2, 44, 45, 24, 3, 4, 46, 25, 26, 5, 47, 48, 27, 6, 7, 49, 28, 29, 8, 50, 51, 30, 9, 10, 52, 31, 32, 11, 53,
    54, 33, 12, 13, 55, 34, 35, 14, 56, 57, 36, 15, 16, 58, 37, 38, 17, 59, 60, 39, 18, 19, 61, 40, 41, 20, 62, 63,
  ],
};

/** The parts of a `$5$`/`$6$` hash; rounds default to 5000 when the hash does not state them (the spec's rule). */
export interface ShaCryptHash {
  rounds: number;
  salt: string;
  checksum: string;
}

/** Parses a SHA-crypt hash of the variant, or returns undefined when it is not one. */
export function parseShaCrypt(variant: ShaCryptVariant, hash: string): ShaCryptHash | undefined {
  const pattern = new RegExp(`^\\${variant.prefix.slice(0, 2)}\\$(?:rounds=([1-9][0-9]{0,8})\\$)?([^$:\\n]{0,16})\\$([./0-9A-Za-z]+)$`);
  const match = pattern.exec(hash);
  if (!match) return undefined;
  const rounds = match[1] === undefined ? 5000 : Number(match[1]);
  if (rounds < 1000) return undefined; // passlib refuses these; the spec would clamp
  const expectedLength = Math.ceil((variant.transpose.length * 4) / 3);
  if (match[3].length !== expectedLength) return undefined;
  return { rounds, salt: match[2], checksum: match[3] };
}

/** Rounds computed between two yields to the event loop: a 656,000-round hash must not freeze the server. */
const ROUNDS_PER_SLICE = 20000;

/** The checksum part of the SHA-crypt hash of `secret` with `salt` and `rounds`. */
export async function shaCryptChecksum(variant: ShaCryptVariant, secret: Buffer, salt: string, rounds: number): Promise<string> {
  const hash = (...parts: Buffer[]): Buffer => {
    const h = createHash(variant.digest);
    for (const part of parts) h.update(part);
    return h.digest();
  };
  const saltBytes = Buffer.from(salt, "utf8").subarray(0, 16);
  const size = variant.transpose.length;
  const repeatTo = (block: Buffer, length: number): Buffer =>
    Buffer.concat(Array.from({ length: Math.ceil(length / size) }, () => block)).subarray(0, length);

  const b = hash(secret, saltBytes, secret);
  const a = createHash(variant.digest).update(secret).update(saltBytes).update(repeatTo(b, secret.length));
  for (let bits = secret.length; bits > 0; bits >>= 1) a.update(bits & 1 ? b : secret);
  let c = a.digest();
  const p = repeatTo(hash(...Array.from({ length: secret.length }, () => secret)), secret.length);
  const s = repeatTo(hash(...Array.from({ length: 16 + c[0] }, () => saltBytes)), saltBytes.length);

  // The rounds dominate: one-shot crypto.hash over a reused buffer is ~1.5x faster than createHash here.
  const input = Buffer.alloc(2 * size + s.length + 2 * p.length);
  for (let round = 0; round < rounds; round++) {
    if (round > 0 && round % ROUNDS_PER_SLICE === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    let length = (round & 1 ? p : c).copy(input, 0);
    if (round % 3) length += s.copy(input, length);
    if (round % 7) length += p.copy(input, length);
    length += (round & 1 ? c : p).copy(input, length);
    c = oneShotHash(variant.digest, input.subarray(0, length), "buffer");
  }
  return encodeCrypt64(Buffer.from(variant.transpose.map((index) => c[index])));
}

/** crypt(3)'s base64: little-endian groups of three bytes, alphabet `./0-9A-Za-z`, no padding. */
function encodeCrypt64(bytes: Buffer): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const chunk = bytes.subarray(i, i + 3);
    let value = chunk[0] | ((chunk[1] ?? 0) << 8) | ((chunk[2] ?? 0) << 16);
    for (let n = 0; n <= chunk.length; n++) {
      out += CRYPT_ALPHABET[value & 63];
      value >>= 6;
    }
  }
  return out;
}
