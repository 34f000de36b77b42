/**
 * Whether the real Flask-Security 5.1.2 (Debian's python3-flask-security, run by /usr/bin/python3) is here.
 * Without it the interop suites are skipped and say so; with CI=true they fail instead (`.ci/run` installs
 * it with .ci/install-flask-security).
 */
import { spawnSync } from "child_process";

/** The interpreter that sees Debian's packages (another python3 earlier on PATH may not). */
export const PYTHON = process.env.TSM_PYTHON ?? "/usr/bin/python3";

let cached: string | undefined | null = null;

/** Why Flask-Security cannot be used here, or undefined when it can. */
export function flaskSecurityMissing(): string | undefined {
  if (cached !== null) return cached;
  const probe = spawnSync(PYTHON, ["-c", "import flask_security, flask_sqlalchemy, psycopg2, pymysql; print(flask_security.__version__)"], {
    encoding: "utf8",
  });
  cached =
    probe.status === 0
      ? undefined
      : `the real Flask-Security is not importable by ${PYTHON} (install it with .ci/install-flask-security): ${(probe.stderr || String(probe.error)).trim().split("\n").pop()}`;
  return cached;
}

/** `describe` when Flask-Security is here; otherwise skipped with the reason in its title, or failing under CI=true. */
export function describeWithFlaskSecurity(title: string, body: () => void): void {
  const missing = flaskSecurityMissing();
  if (missing && process.env.CI === "true") {
    describe(title, () => {
      it("needs the real Flask-Security (CI=true)", () => {
        throw new Error(missing);
      });
    });
  } else if (missing) {
    process.stderr.write(`\nSKIPPING ${title}: ${missing}\n`);
    describe.skip(`${title} SKIPPED: ${missing}`, body);
  } else {
    describe(title, body);
  }
}
