/**
 * What the user model's password methods do (UserBase delegates here, so its file stays about columns):
 * find the hasher, hash or verify, and remember which users hold a password change that is not saved yet.
 */
import { PasswordHasherMissingError } from "./errors";
import type { PasswordHasher } from "./hasher";

/** A user entity as these functions see it: its `password` column and its class's default hasher. */
interface PasswordOwner {
  password?: string | null;
  constructor: { name: string; passwordHasher?: PasswordHasher };
}

// Users whose `password` was changed by setPassword or an upgrade and not saved since. A WeakSet, not a
// property: nothing extra shows up in the entity's columns, toJSON() or TypeORM's change detection.
const unsaved = new WeakSet<object>();

function hasherFor(user: PasswordOwner, hasher: PasswordHasher | undefined, method: string): PasswordHasher {
  const found = hasher ?? user.constructor.passwordHasher;
  if (!found) {
    const entity = user.constructor.name;
    throw new PasswordHasherMissingError(
      entity,
      "password",
      "password-hasher-missing",
      `${method}() needs a PasswordHasher. Fix: set one once at start-up, ${entity}.passwordHasher = new PasswordHasher({ salt: process.env.SECURITY_PASSWORD_SALT }), or pass one as the last argument.`,
    );
  }
  return found;
}

/** UserBase.setPassword: hashes `plain` into `password`. */
export async function setUserPassword(user: PasswordOwner, plain: string, hasher?: PasswordHasher): Promise<void> {
  user.password = await hasherFor(user, hasher, "setPassword").hashPassword(plain);
  unsaved.add(user);
}

/** UserBase.verifyAndUpdatePassword: verifies, and re-hashes an outdated hash into `password`. */
export async function verifyAndUpdateUserPassword(user: PasswordOwner, plain: string, hasher?: PasswordHasher): Promise<boolean> {
  const { verified, newHash } = await hasherFor(user, hasher, "verifyAndUpdatePassword").verifyAndUpdatePassword(plain, user.password);
  if (newHash !== null) {
    user.password = newHash;
    unsaved.add(user);
  }
  return verified;
}

/** UserBase.passwordNeedsSave. */
export function passwordNeedsSave(user: object): boolean {
  return unsaved.has(user);
}

/** After TypeORM inserted or updated the user: its password, changed or not, is now what the database holds. */
export function passwordSaved(user: object): void {
  unsaved.delete(user);
}
