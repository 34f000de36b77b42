/**
 * One datastore operation at a time on SQLite. TypeORM gives a SQLite DataSource a single connection, so two
 * overlapping transactions fail ("cannot start a transaction within a transaction"), and worse, a statement
 * sent while another operation's transaction is open joins that transaction and is lost if it rolls back
 * (a sign-in counted, then undone by someone else's refused sign-up). Queuing costs nothing there: the
 * driver (better-sqlite3) runs one statement at a time anyway.
 */
import type { DataSource } from "typeorm";
import { dialectOf } from "../database/dialect";

const queues = new WeakMap<DataSource, Promise<unknown>>();

/** Runs `operation` after every earlier one on the same SQLite DataSource has finished; elsewhere at once. */
export function oneAtATimeOnSqlite<T>(dataSource: DataSource, operation: () => Promise<T>): Promise<T> {
  if (dialectOf(dataSource) !== "sqlite") return operation();
  const previous = queues.get(dataSource) ?? Promise.resolve();
  const next = previous.then(operation, operation);
  queues.set(
    dataSource,
    next.catch(() => undefined),
  );
  return next;
}
