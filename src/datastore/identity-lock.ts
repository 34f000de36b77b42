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
 *
 * On a MariaDB Galera node a lock of one node does not hold on the others; there each key is also written,
 * so that two calls on two nodes collide at commit (see `collideAcrossNodes`).
 */
import { createHash } from "crypto";
import type { EntityManager } from "typeorm";
import { dialectOf } from "../database/dialect";
import { isGaleraNode } from "./primary";

/**
 * A table with a unique column where a key can be written for a moment (`collideAcrossNodes`): the Role
 * table and its `name`, as the database spells them.
 */
export interface CollisionColumn {
  /** The table's name, quoted for the database. */
  table: string;
  /** The unique column's name, quoted for the database. */
  column: string;
}

/** How long MariaDB/MySQL wait for a lock before the attempt fails as a lock timeout (and is retried). */
const MYSQL_LOCK_SECONDS = 20;

/**
 * Runs `work` in a transaction on `primary`'s connection (a manager with its own query runner: the
 * datastore's `onPrimary`) holding a lock on each of `keys` (strings naming a value, such as
 * `user.email:ada@example.com`). Another call with one of the same keys waits until this one has committed
 * or rolled back.
 */
export function inTransactionLocking<T>(
  primary: EntityManager,
  keys: string[],
  collision: CollisionColumn,
  work: (manager: EntityManager) => Promise<T>,
): Promise<T> {
  const sorted = [...new Set(keys)].sort();
  switch (dialectOf(primary.connection)) {
    case "postgres":
      return postgresLocking(primary, sorted, work);
    case "mysql":
      return mysqlLocking(primary, sorted, collision, work);
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
 * `GET_LOCK` is local to the server that runs it (under Galera, each node has its own): on a Galera node the
 * transaction also writes each key (`collideAcrossNodes`), which makes two calls on two nodes collide.
 */
async function mysqlLocking<T>(
  primary: EntityManager,
  keys: string[],
  collision: CollisionColumn,
  work: (manager: EntityManager) => Promise<T>,
): Promise<T> {
  const galera = await isGaleraNode(primary.connection);
  const held: string[] = [];
  try {
    for (const key of keys) {
      const [row] = await primary.query(`SELECT GET_LOCK(${LOCK_NAME}, ?) AS granted`, [digest(key), MYSQL_LOCK_SECONDS]);
      if (Number(row.granted) !== 1) throw lockTimeout();
      held.push(key);
    }
    return await primary.transaction(async (manager) => {
      if (galera) await collideAcrossNodes(manager, keys, collision);
      return work(manager);
    });
  } finally {
    for (const key of held.reverse()) await primary.query(`SELECT RELEASE_LOCK(${LOCK_NAME})`, [digest(key)]);
  }
}

/**
 * Galera: inserts a row whose unique column holds each key, and deletes it again, in the transaction, before
 * its first read. Nothing is left and no other transaction ever sees the row, but the write set carries the
 * unique key, and Galera certifies write sets cluster-wide: of two transactions on two nodes that wrote the
 * same key without the one having seen the other's commit, the second to commit fails with a deadlock error
 * (1213), which the datastore retries; the retry's causal read sees the first's row and refuses. On one node
 * the second insert waits for the first transaction to end (InnoDB's lock on the unique key), as `GET_LOCK`.
 * So serialisation holds for whatever the keys cover, with no index on the locked values: V1 usernames,
 * and letters Unicode lower-cases that the column's collation does not fold.
 *
 * The row is `tsm:lock:` and the key's SHA-256 in hex (73 characters: a Role name may have 80), written with
 * strict mode off for the statement, so that a column the app added to its Role without a default takes
 * its type's implicit one instead of refusing the insert.
 */
async function collideAcrossNodes(manager: EntityManager, keys: string[], { table, column }: CollisionColumn): Promise<void> {
  for (const key of keys) {
    const value = collisionValue(key);
    await manager.query(`SET STATEMENT sql_mode = '' FOR INSERT INTO ${table} (${column}) VALUES (?)`, [value]);
    await manager.query(`DELETE FROM ${table} WHERE ${column} = ?`, [value]);
  }
}

/** What `collideAcrossNodes` writes for `key`. */
export function collisionValue(key: string): string {
  return `tsm:lock:${digest(key)}`;
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
