/**
 * Runs test/interop/flask_driver.py (the real Flask-Security 5.1.2) against a test database: one Python
 * process per scenario, its JSON report parsed. See the driver's docstring for the commands.
 */
import { execFile } from "child_process";
import { join } from "path";
import { promisify } from "util";
import type { TestDatabase } from "../../support/database";
import { PYTHON } from "./flask-security";

const DRIVER = join(__dirname, "..", "flask_driver.py");

/** A user as Flask-Security reads it: its columns (datetimes as ISO text with microseconds) and its answers. */
export interface FlaskUser {
  id: number;
  email: string;
  roles: string[];
  has_role: Record<string, boolean>;
  has_permission: Record<string, boolean>;
  found_by_email: Record<"stored" | "upper" | "lower" | "lookup_identity", number | null>;
  found_by_uniquifier: number | null;
  found_by_auth_token?: number | null;
  [column: string]: unknown;
}

export interface FlaskRole {
  id: number;
  name: string;
  description: string | null;
  permissions: string[] | null;
  update_datetime: string;
}

/** What Flask-Security sees in the database. */
export interface FlaskView {
  roles: FlaskRole[];
  users: FlaskUser[];
  links: Array<[number | null, number | null]>;
  /** Version 3: every credential (binary as hex) and the user Flask-Security finds from its credential id. */
  webauthn?: Array<
    Record<string, unknown> & { user_id: number; found_user: number | null; create_datetime: string; lastuse_datetime: string }
  >;
}

export interface FlaskReport {
  before: FlaskView;
  created?: { id: number; fs_uniquifier: string; fs_token_uniquifier: string | null };
  after?: FlaskView;
}

export interface FlaskOptions {
  /** The fsqla version: 1, 2 or 3. */
  version: number;
  /** The User model has the README's fs_token_uniquifier line. */
  tokenUniquifier?: boolean;
  /** Flask-Security writes what its schema allows and ours refuses (make only). */
  traps?: boolean;
  /** Flask-Security then creates a user with this email (read only). */
  createUser?: string;
}

/** The SQLAlchemy URL of a test database. */
export function flaskUrl(db: TestDatabase): string {
  const options = db.options([]) as { database?: string; url?: string };
  if (db.kind === "sqlite") return `sqlite:///${options.database}`;
  return db.kind === "mariadb" ? `${options.url}?charset=utf8mb4` : options.url!;
}

/** Runs the driver's `make` (create and fill with Flask-Security) or `read` on `db`. */
export async function runFlask(command: "make" | "read", db: TestDatabase, options: FlaskOptions): Promise<FlaskReport> {
  const args = [DRIVER, command, "--version", `v${options.version}`, "--url", flaskUrl(db), "--extra-column"];
  if (options.tokenUniquifier) args.push("--token-uniquifier");
  if (options.traps) args.push("--traps");
  if (options.createUser) args.push("--create-user", options.createUser);
  try {
    const { stdout } = await promisify(execFile)(PYTHON, args, { maxBuffer: 64 * 1024 * 1024 });
    return JSON.parse(stdout);
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`Flask-Security (${command} v${options.version} on ${db.kind}) failed:\n${stderr}\n${stdout}`, { cause: error });
  }
}

/**
 * The instant of a naive-UTC ISO text Flask-Security printed (`2024-01-02T03:04:05.123456`), to the
 * millisecond (a JS Date holds no microseconds), as `toISOString()` prints it; null stays null.
 */
export function flaskInstant(text: unknown): string | null {
  if (text === null || text === undefined) return null;
  const printed = typeof text === "string" ? text : JSON.stringify(text);
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?$/.exec(printed);
  if (!m) throw new Error(`not a naive ISO datetime from Flask-Security: ${printed}`);
  return `${m[1]}.${(m[2] ?? "").padEnd(6, "0").slice(0, 3)}Z`;
}

/** Microseconds of a Flask-Security ISO text (0 when it has no fraction). */
export function flaskMicroseconds(text: unknown): number {
  const m = /\.(\d{1,6})$/.exec(String(text));
  return m ? Number(m[1].padEnd(6, "0")) : 0;
}
