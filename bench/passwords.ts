/**
 * `npm run bench:passwords`: hashes and verifies per second through PasswordHasher against the library it
 * wraps called directly with the same parameters and the same input (the HMAC already computed), in the same
 * process, alternating, median of BENCH_PASSWORD_ROUNDS (3) runs of about BENCH_PASSWORD_SECONDS (3, and at least 6
 * operations) each, with
 * 1 and 2 operations in flight (2 cores). SHA-crypt has no library here: it is compared with passlib (libc's
 * crypt, through /usr/bin/python3) when Flask-Security's packages are installed.
 */
import { spawnSync } from "child_process";
import { createHmac, pbkdf2, randomBytes } from "crypto";
import { promisify } from "util";
import { PasswordHasher } from "../src";
import { argon2Library, bcryptLibrary } from "../src/password/libraries";
import { FLASK_SECURITY_PRESETS } from "../src/password/options";

const SECONDS = Number(process.env.BENCH_PASSWORD_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_PASSWORD_ROUNDS ?? 3);
const SALT = "bench-salt";
const PASSWORD = "correct horse battery staple";
const SECRET = createHmac("sha512", SALT).update(PASSWORD.normalize("NFKD")).digest("base64");
const now = () => Number(process.hrtime.bigint()) / 1e9;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** At least this many operations per measurement, however slow (argon2 at Flask-Security 5.1's cost takes ~1 s). */
const MIN_OPERATIONS = 6;

/** Operations per second of `fn` with `inFlight` calls running at once, over about SECONDS. */
async function perSecond(fn: () => Promise<unknown>, inFlight: number): Promise<number> {
  await fn(); // warm-up (and loads the library)
  let done = 0;
  const start = now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (now() - start < SECONDS || done < MIN_OPERATIONS) {
        await fn();
        done++;
      }
    }),
  );
  return done / (now() - start);
}

type Row = { operation: string; inFlight: number; ours: number; direct: number };

/** Runs ours and the direct call alternately ROUNDS times and keeps the median of each. */
async function compare(operation: string, ours: () => Promise<unknown>, direct: () => Promise<unknown>): Promise<Row[]> {
  const rows: Row[] = [];
  for (const inFlight of [1, 2]) {
    const runs = { ours: [] as number[], direct: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      runs.ours.push(await perSecond(ours, inFlight));
      runs.direct.push(await perSecond(direct, inFlight));
    }
    const row = { operation, inFlight, ours: median(runs.ours), direct: median(runs.direct) };
    console.log(
      `${operation} (${inFlight} in flight): ours ${row.ours.toFixed(2)}/s, direct ${row.direct.toFixed(2)}/s, ours / direct ${(row.ours / row.direct).toFixed(2)}`,
    );
    rows.push(row);
  }
  return rows;
}

/** passlib's own sha512_crypt verify time for the hash, in seconds, or undefined without Flask-Security's packages. */
function passlibShaCryptSeconds(hash: string): number | undefined {
  const script = `import sys, time
from passlib.hash import sha512_crypt
secret, h = sys.argv[1].encode(), sys.argv[2]
sha512_crypt.verify(secret, h)
n, start = 0, time.perf_counter()
while time.perf_counter() - start < ${SECONDS}:
    assert sha512_crypt.verify(secret, h); n += 1
print((time.perf_counter() - start) / n)`;
  const run = spawnSync("/usr/bin/python3", ["-c", script, SECRET, hash], { encoding: "utf8" });
  return run.status === 0 ? Number(run.stdout.trim()) : undefined;
}

async function main(): Promise<void> {
  const bcrypt = bcryptLibrary();
  const argon2 = argon2Library();
  const pbkdf2Async = promisify(pbkdf2);
  const rows: Row[] = [];

  // bcrypt, cost 12: Flask-Security's default before 5.5
  const bcryptHasher = new PasswordHasher({ salt: SALT, flaskSecurity: "5.1" });
  const bcryptHash = await bcryptHasher.hashPassword(PASSWORD);
  const bcryptInput = Buffer.from(SECRET).subarray(0, 72);
  rows.push(
    ...(await compare(
      "bcrypt-12 hash",
      () => bcryptHasher.hashPassword(PASSWORD),
      () => bcrypt.hash(bcryptInput, 12),
    )),
  );
  rows.push(
    ...(await compare(
      "bcrypt-12 verify",
      () => bcryptHasher.verifyPassword(PASSWORD, bcryptHash),
      () => bcrypt.compare(bcryptInput, bcryptHash),
    )),
  );

  // argon2id as each preset writes it: 5.5 and later (the default), and before 5.5 when set to argon2
  for (const release of ["5.5", "5.1"] as const) {
    const argon2Hasher = new PasswordHasher({ salt: SALT, flaskSecurity: release, scheme: "argon2" });
    const argon2Hash = await argon2Hasher.hashPassword(PASSWORD);
    const parameters = FLASK_SECURITY_PRESETS[release].argon2;
    const label = `argon2id m=${parameters.memoryCost},t=${parameters.timeCost},p=${parameters.parallelism} (${release})`;
    rows.push(
      ...(await compare(
        `${label} hash`,
        () => argon2Hasher.hashPassword(PASSWORD),
        () => argon2.hash(SECRET, { type: argon2.argon2id, ...parameters }),
      )),
    );
    rows.push(
      ...(await compare(
        `${label} verify`,
        () => argon2Hasher.verifyPassword(PASSWORD, argon2Hash),
        () => argon2.verify(argon2Hash, SECRET),
      )),
    );
  }

  // pbkdf2_sha512 at our default 210,000 rounds, against node's crypto.pbkdf2
  const pbkdf2Hasher = new PasswordHasher({ salt: SALT, scheme: "pbkdf2_sha512" });
  const pbkdf2Hash = await pbkdf2Hasher.hashPassword(PASSWORD);
  const pbkdf2Salt = randomBytes(16);
  rows.push(
    ...(await compare(
      "pbkdf2_sha512-210000 verify",
      () => pbkdf2Hasher.verifyPassword(PASSWORD, pbkdf2Hash),
      () => pbkdf2Async(SECRET, pbkdf2Salt, 210000, 64, "sha512"),
    )),
  );

  // sha512_crypt at passlib's 656,000 rounds (verify only): ours in JS against passlib in C
  const shaCryptHash = process.env.BENCH_SHA512_CRYPT_HASH ?? shaCryptFromPasslib();
  if (shaCryptHash) {
    const start = now();
    const ok = await bcryptHasher.verifyPassword(PASSWORD, shaCryptHash);
    const ours = now() - start;
    const passlib = passlibShaCryptSeconds(shaCryptHash);
    console.log(
      `sha512_crypt-656000 verify: ours ${ours.toFixed(2)} s (${ok ? "verified" : "NOT VERIFIED"})` +
        (passlib === undefined ? "" : `, passlib ${passlib.toFixed(2)} s, ratio ${(ours / passlib).toFixed(2)}`),
    );
  } else {
    console.log("sha512_crypt: skipped (no /usr/bin/python3 with passlib to write a hash)");
  }

  console.log("\n| operation | in flight | ours (/s) | library direct (/s) | ours / direct |");
  console.log("|---|---|---|---|---|");
  for (const row of rows) {
    console.log(
      `| ${row.operation} | ${row.inFlight} | ${row.ours.toFixed(2)} | ${row.direct.toFixed(2)} | ${(row.ours / row.direct).toFixed(2)} |`,
    );
  }
}

function shaCryptFromPasslib(): string | undefined {
  const run = spawnSync(
    "/usr/bin/python3",
    ["-c", "import sys; from passlib.hash import sha512_crypt; print(sha512_crypt.hash(sys.argv[1].encode()))", SECRET],
    { encoding: "utf8" },
  );
  return run.status === 0 ? run.stdout.trim() : undefined;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
