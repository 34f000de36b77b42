/**
 * bcrypt and argon2 are optional peer dependencies: without them the hasher must say which package to
 * install, at creation for the writing scheme and at verification for a stored hash, instead of answering
 * "wrong password". Proven in a child process that runs src/password from a folder where neither resolves.
 */
import { spawnSync } from "child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { PASSLIB_HASHES } from "./fixtures/passlib-hashes";

describe("a scheme whose npm package is missing", () => {
  let folder: string;
  beforeAll(() => {
    folder = mkdtempSync(join(tmpdir(), "tsm-nolib-"));
    cpSync(join(__dirname, "../src/password"), join(folder, "src/password"), { recursive: true });
    for (const shared of ["errors.ts", "unicode.ts"]) cpSync(join(__dirname, "../src", shared), join(folder, "src", shared));
    writeFileSync(join(folder, "tsconfig.json"), JSON.stringify({ compilerOptions: { module: "commonjs", target: "ES2021", types: [] } }));
  });
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  /** Runs `body` (JavaScript, with PasswordHasher in scope) where neither bcrypt nor argon2 can be required. */
  function withoutLibraries(body: string): { name: string; message: string; field: string; rule: string }[] {
    const script = `
      const { PasswordHasher } = require("./src/password");
      const seen = [];
      const note = (e) => seen.push({ name: e.name, message: e.message, field: e.field, rule: e.rule });
      (async () => { ${body} })().then(() => console.log(JSON.stringify(seen)));`;
    const run = spawnSync(process.execPath, ["-r", require.resolve("ts-node/register/transpile-only"), "-e", script], {
      cwd: folder,
      encoding: "utf8",
      env: { ...process.env, NODE_PATH: "" },
    });
    if (run.status !== 0) throw new Error(run.stderr);
    return JSON.parse(run.stdout.trim().split("\n").pop()!);
  }

  it("fails at creation for the writing scheme, naming the package to install", () => {
    const seen = withoutLibraries(`
      try { new PasswordHasher({ salt: "s" }); } catch (e) { note(e); }
      try { new PasswordHasher({ salt: "s", scheme: "argon2" }); } catch (e) { note(e); }`);
    expect(seen).toEqual([
      expect.objectContaining({
        name: "PasswordSchemeUnavailableError",
        field: "schemes",
        rule: "scheme-library-missing",
        message: expect.stringContaining("npm install bcrypt"),
      }),
      expect.objectContaining({ name: "PasswordSchemeUnavailableError", message: expect.stringContaining("npm install argon2") }),
    ]);
  });

  it("fails when verifying a stored hash that needs it, rather than answering false; other schemes still work", () => {
    const seen = withoutLibraries(`
      const hasher = new PasswordHasher({ salt: "unit-test-salt", scheme: "pbkdf2_sha512", pbkdf2Rounds: { sha512: 1000 } });
      if (await hasher.verifyPassword("Ünïcödé ﬁsh", ${JSON.stringify(PASSLIB_HASHES.pbkdf2_sha512)}) !== true) throw new Error("pbkdf2 failed");
      await hasher.verifyPassword("Ünïcödé ﬁsh", ${JSON.stringify(PASSLIB_HASHES.bcrypt)}).catch(note);
      await hasher.verifyPassword("Ünïcödé ﬁsh", ${JSON.stringify(PASSLIB_HASHES.argon2id)}).catch(note);`);
    expect(seen.map((e) => [e.name, e.message.match(/npm install \w+/)?.[0]])).toEqual([
      ["PasswordSchemeUnavailableError", "npm install bcrypt"],
      ["PasswordSchemeUnavailableError", "npm install argon2"],
    ]);
  });
});
