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
      try { new PasswordHasher({ salt: "s", scheme: "bcrypt" }); } catch (e) { note(e); }
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
    // An explicit scheme is the app's choice: no preset is suggested instead.
    expect(seen.map((e) => e.message)).toEqual([
      expect.not.stringContaining("flaskSecurity"),
      expect.not.stringContaining("flaskSecurity"),
    ]);
  });

  it("a preset's scheme missing (argon2 for the default): the error names the package and the other preset", () => {
    const seen = withoutLibraries(`
      try { new PasswordHasher({ salt: "s" }); } catch (e) { note(e); }
      try { new PasswordHasher({ salt: "s", flaskSecurity: "5.1" }); } catch (e) { note(e); }`);
    expect(seen).toHaveLength(2);
    const [byDefault, older] = seen;
    expect(byDefault).toMatchObject({ name: "PasswordSchemeUnavailableError", field: "schemes", rule: "scheme-library-missing" });
    expect(byDefault.message).toContain(
      'Fix: npm install argon2. It is the scheme Flask-Security 5.5 or later writes (the default preset, "5.5")',
    );
    expect(byDefault.message).toContain(
      'Or pass flaskSecurity: "5.1" if the Flask-Security app is older than 5.5 (it writes bcrypt; npm install bcrypt)',
    );
    expect(older.message).toContain(
      'Fix: npm install bcrypt. It is the scheme Flask-Security older than 5.5 writes (flaskSecurity: "5.1")',
    );
    expect(older.message).toContain(
      'Or pass flaskSecurity: "5.5" if the Flask-Security app is 5.5 or later (it writes argon2; npm install argon2)',
    );
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
