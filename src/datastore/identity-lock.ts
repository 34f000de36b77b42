/**
 * A transaction that holds a lock on each of some values (an email, a username, each lower-cased), one
 * function per database, so that two datastore calls creating the same value in different letter cases run
 * one after the other: the second then sees the first's row and refuses. Without it both check ("nobody has
 * it"), then both insert, and no unique index catches case variants at V1/V2 (nor usernames at any version,
 * nor, on SQLite and under a C locale, anything but ASCII letters).
 *
 * The locks are taken in sorted order (no two calls wait for each other in a circle), before the
 * transaction's first read (MariaDB/MySQL's REPEATABLE READ snapshot then includes what the previous holder
 * committed), and held until after the commit.
 */
import { createHash } from "crypto";
import type { EntityManager } from "typeorm";
import { dialectOf } from "../schema/operations";

/** How long MariaDB/MySQL wait for a lock before the attempt fails as a lock timeout (and is retried). */
const MYSQL_LOCK_SECONDS = 20;

/**
 * Runs `work` in a transaction on `primary`'s connection (a manager with its own query runner: the
 * datastore's `onPrimary`) holding a lock on each of `keys` (strings naming a value, such as
 * `user.email:ada@example.com`). Another call with one of the same keys waits until this one has committed
 * or rolled back.
 */
export function inTransactionLocking<T>(primary: EntityManager, keys: string[], work: (manager: EntityManager) => Promise<T>): Promise<T> {
  const sorted = [...new Set(keys)].sort();
  switch (dialectOf(primary.connection)) {
    case "postgres":
      return postgresLocking(primary, sorted, work);
    case "mysql":
      return mysqlLocking(primary, sorted, work);
    case "sqlite":
      return sqliteLocking(primary, work);
  }
}

/**
 * PostgreSQL: transaction-scoped advisory locks (`pg_advisory_xact_lock`), released by the commit or
 * rollback itself, also when the connection dies. Advisory locks belong to one database, and the key is a
 * 64-bit hash of the text: two different values that share a hash only wait for each other.
 */
function postgresLocking<T>(primary: EntityManager, keys: string[], work: (manager: EntityManager) => Promise<T>): Promise<T> {
  return primary.transaction(async (manager) => {
    for (const key of keys) await manager.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [key]);
    return work(manager);
  });
}

/**
 * MariaDB/MySQL: named locks (`GET_LOCK`), taken on the transaction's own connection before it starts and
 * released after the commit; the server releases them too when the connection dies. The name holds the
 * database's name, so two databases on one server do not wait for each other, hashed to fit the 64
 * characters a name may have.
 *
 * Relies on every writer of these values going through one server: `GET_LOCK` is local to the server that
 * runs it (under Galera, each node has its own), so writers on two cluster nodes do not wait for each other.
 */
async function mysqlLocking<T>(primary: EntityManager, keys: string[], work: (manager: EntityManager) => Promise<T>): Promise<T> {
  const held: string[] = [];
  try {
    for (const key of keys) {
      const [row] = await primary.query(`SELECT GET_LOCK(${LOCK_NAME}, ?) AS granted`, [digest(key), MYSQL_LOCK_SECONDS]);
      if (Number(row.granted) !== 1) throw lockTimeout();
      held.push(key);
    }
    return await primary.transaction(work);
  } finally {
    for (const key of held.reverse()) await primary.query(`SELECT RELEASE_LOCK(${LOCK_NAME})`, [digest(key)]);
  }
}

/**
 * The key as ASCII (hex of its SHA-256): mixed with DATABASE(), a utf8mb3 string, a key with characters beyond
 * utf8mb3 (emoji, astral letters) would be an "illegal mix of collations".
 */
function digest(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** The lock name of the key digest `?` in this database: hashed, as a name may have at most 64 characters. */
const LOCK_NAME = `CONCAT('tsm:', LEFT(SHA2(CONCAT(DATABASE(), ':', ?), 256), 60))`;

/** A lock not granted in time, shaped as the driver's lock-wait timeout so the datastore retries it. */
function lockTimeout(): Error {
  return Object.assign(new Error("a lock on the value was not granted in time"), { code: "ER_LOCK_WAIT_TIMEOUT", errno: 1205 });
}

/**
 * SQLite: one writer at a time by design, and the datastore runs its operations one at a time on a SQLite
 * DataSource (sqlite-queue.ts), so the check and the insert of one call never interleave with another's.
 * A second process on the same file gets SQLITE_BUSY at its write, which the datastore retries.
 */
function sqliteLocking<T>(primary: EntityManager, work: (manager: EntityManager) => Promise<T>): Promise<T> {
  return primary.transaction(work);
}
