/**
 * Side-by-side views of the same rows: what our entities read and what Flask-Security read, in one shape, so a
 * test compares them with one `toEqual` and a failure shows the column that differs.
 */
import type { DataSource } from "typeorm";
import type { RoleMixinV1, WebAuthnMixinV1 } from "../../../src";
import type { TestDatabase } from "../../support/database";
import { flaskInstant } from "./flask-driver";
import type { FlaskRole, FlaskUser, FlaskView } from "./flask-driver";
import type { InteropVersion } from "./entities";

/** Columns Flask-Security's report leaves out (secrets); the rest are compared. */
const NOT_REPORTED = new Set(["password", "tf_totp_secret", "us_totp_secrets"]);

type Loaded = { id: number; roles: RoleMixinV1[]; hasRole(role: string): boolean; hasPermission(permission: string): boolean };

/** Our user by column name, datetimes as ISO instants, with our answers to Flask-Security's questions. */
export function ourUserView(ds: DataSource, user: Loaded, flask: FlaskUser): Record<string, unknown> {
  const view: Record<string, unknown> = {};
  for (const column of ds.getMetadata(user.constructor).columns) {
    if (NOT_REPORTED.has(column.databaseName) || !(column.databaseName in flask)) continue;
    const value = column.getEntityValue(user);
    view[column.databaseName] = value instanceof Date ? value.toISOString() : value;
  }
  view.roles = user.roles.map((r) => r.name).sort();
  view.has_role = Object.fromEntries(Object.keys(flask.has_role).map((name) => [name, user.hasRole(name)]));
  view.has_permission = Object.fromEntries(Object.keys(flask.has_permission).map((name) => [name, user.hasPermission(name)]));
  return view;
}

/** Flask-Security's user in the same shape as `ourUserView` (only the keys that view has). */
export function flaskUserView(flask: FlaskUser, ours: Record<string, unknown>): Record<string, unknown> {
  const view: Record<string, unknown> = {};
  for (const key of Object.keys(ours)) {
    const value = flask[key];
    view[key] = typeof ours[key] === "string" && /^\d{4}-\d\d-\d\dT/.test(ours[key]) ? flaskInstant(value) : value;
  }
  return view;
}

/** A role in one shape for both sides. */
export function roleView(role: RoleMixinV1 | FlaskRole): Record<string, unknown> {
  const updated = "updateDatetime" in role ? role.updateDatetime.toISOString() : flaskInstant(role.update_datetime);
  return { id: role.id, name: role.name, description: role.description, permissions: role.permissions ?? [], update_datetime: updated };
}

/** A credential in the shape Flask-Security's report has (binary as hex, datetimes as ISO instants). */
function webAuthnView(w: WebAuthnMixinV1): Record<string, unknown> {
  return {
    id: w.id,
    credential_id: w.credentialId.toString("hex"),
    public_key: w.publicKey.toString("hex"),
    sign_count: w.signCount,
    transports: w.transports,
    backup_state: w.backupState,
    device_type: w.deviceType,
    extensions: w.extensions,
    create_datetime: w.createDatetime.toISOString(),
    lastuse_datetime: w.lastuseDatetime.toISOString(),
    name: w.name,
    usage: w.usage,
    user_id: w.userId,
  };
}

/** Drops every table, so each scenario starts from an empty database. */
export async function emptyDatabase(db: TestDatabase): Promise<void> {
  const ds = await db.dataSource([], { dropSchema: true });
  await ds.destroy();
}

type AnyUser = InstanceType<InteropVersion["User"]>;

/** Reads everything with our entities and checks it against what Flask-Security read. */
export async function expectSameAsFlask(ds: DataSource, v: InteropVersion, flask: FlaskView): Promise<AnyUser[]> {
  const users = (await ds.getRepository(v.User).find({ relations: { roles: true }, order: { id: "ASC" } })) as AnyUser[];
  expect(users.map((u) => u.id)).toEqual(flask.users.map((u) => u.id));
  for (const fsUser of flask.users) {
    const ours = ourUserView(
      ds,
      users.find((u) => u.id === fsUser.id)!,
      fsUser,
    );
    expect(ours).toEqual(flaskUserView(fsUser, ours));
  }
  const roles = await ds.getRepository(v.Role).find({ order: { id: "ASC" } });
  expect(roles.map(roleView)).toEqual(flask.roles.map(roleView));
  if (v.WebAuthn) {
    const credentials = await ds.getRepository(v.WebAuthn).find({ order: { id: "ASC" } });
    expect(credentials.map(webAuthnView)).toEqual(
      flask.webauthn!.map(({ found_user: _found, ...w }) => ({
        ...w,
        create_datetime: flaskInstant(w.create_datetime),
        lastuse_datetime: flaskInstant(w.lastuse_datetime),
      })),
    );
    for (const credential of flask.webauthn!) expect(credential.found_user).toBe(credential.user_id);
  }
  return users;
}
