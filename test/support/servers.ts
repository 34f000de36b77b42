/**
 * The database servers the suites run against, and whether each can be reached. Connection settings come
 * from PG_URL and MYSQL_URL (defaults: the machine's local servers). On a laptop without a server its suite
 * is skipped and named as skipped; with CI=true an unreachable server fails the run.
 */
import { Client } from "pg";
import { createConnection } from "mysql2/promise";

export type DatabaseKind = "sqlite" | "postgres" | "mariadb";
export const DATABASE_KINDS: readonly DatabaseKind[] = ["sqlite", "postgres", "mariadb"];

export const PG_URL = process.env.PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
export const MYSQL_URL = process.env.MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";

/** Tries each server once; returns why the unreachable ones could not be used. */
export async function probeServers(): Promise<Partial<Record<DatabaseKind, string>>> {
  const down: Partial<Record<DatabaseKind, string>> = {};
  try {
    const client = new Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
    await client.connect();
    await client.end();
  } catch (error) {
    down.postgres = `cannot reach PostgreSQL at ${PG_URL}: ${(error as Error).message}`;
  }
  try {
    const connection = await createConnection({ uri: MYSQL_URL, connectTimeout: 3000 });
    await connection.end();
  } catch (error) {
    down.mariadb = `cannot reach MariaDB at ${MYSQL_URL}: ${(error as Error).message}`;
  }
  return down;
}

/** Why `kind`'s suite is skipped in this run, or undefined when it runs (set by the global setup). */
export function skipReason(kind: DatabaseKind): string | undefined {
  const down = JSON.parse(process.env.TSM_SERVERS_DOWN ?? "{}") as Partial<Record<DatabaseKind, string>>;
  return down[kind];
}
