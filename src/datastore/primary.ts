/**
 * Where the datastore's statements go when the database is more than one server.
 *
 * Every datastore read is a security decision or the check before a write: a session or token lookup after
 * a sign-out everywhere, the `active` flag after a deactivation, a role or permission after it was taken
 * away, the duplicate check of a sign-up. A read that misses the latest write can undo a revocation, so
 * none may be served from a copy that lags:
 *
 * - TypeORM's `replication` option sends the reads of `dataSource.manager` to a replica, however far it lags.
 *   The datastore runs every statement on a query runner in `master` mode: the primary.
 * - MariaDB Galera applies other nodes' writes asynchronously: a read on one node right after a write on
 *   another may not see it. On a Galera node every SELECT of the datastore runs with `wsrep_sync_wait = 1`,
 *   which makes the node apply every write the cluster committed before the read starts.
 */
import type { DataSource, EntityManager, QueryRunner } from "typeorm";

const galera = new WeakMap<DataSource, Promise<boolean>>();

/**
 * Whether the DataSource's server is a MariaDB Galera node (`@@wsrep_on`), asked once per DataSource; MySQL,
 * which has no such variable, is not.
 */
export function isGaleraNode(dataSource: DataSource): Promise<boolean> {
  if (dataSource.options.type !== "mariadb" && dataSource.options.type !== "mysql") return Promise.resolve(false);
  let answer = galera.get(dataSource);
  if (!answer) {
    answer = dataSource
      .query(`SELECT @@wsrep_on AS wsrep`)
      .then(([row]: Array<{ wsrep: unknown }>) => Number(row?.wsrep) === 1)
      .catch((error: unknown) => {
        const code = (error as { code?: string; driverError?: { code?: string } }).driverError?.code ?? (error as { code?: string }).code;
        if (code === "ER_UNKNOWN_SYSTEM_VARIABLE") return false; // MySQL
        galera.delete(dataSource); // a failure to ask: ask again next time
        throw error;
      });
    galera.set(dataSource, answer);
  }
  return answer;
}

/** Makes every SELECT sent through `runner` wait until the node has applied what the cluster committed. */
function causalReads(runner: QueryRunner): void {
  const query = runner.query.bind(runner);
  runner.query = ((sql: string, ...rest: unknown[]) =>
    (query as (...args: unknown[]) => Promise<unknown>)(
      /^\s*SELECT\b/i.test(sql) ? `SET STATEMENT wsrep_sync_wait = 1 FOR ${sql}` : sql,
      ...rest,
    )) as QueryRunner["query"];
}

/**
 * Runs `operation` with an EntityManager whose statements all go to the primary (never a replica of
 * TypeORM's `replication` option) and, on a Galera node, whose reads are causal. Transactions started from
 * that manager (`manager.transaction`) run on the same connection.
 */
export async function onPrimary<T>(dataSource: DataSource, operation: (manager: EntityManager) => Promise<T>): Promise<T> {
  const causal = await isGaleraNode(dataSource);
  const runner = dataSource.createQueryRunner("master");
  if (causal) causalReads(runner);
  try {
    return await operation(runner.manager);
  } finally {
    await runner.release();
  }
}
