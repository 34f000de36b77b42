/** The dialect of each SQL family, for everyday code. */
import type { DataSource } from "typeorm";
import { dialectOf } from "../dialect";
import type { Dialect } from "../dialect";
import type { DatabaseDialect } from "./dialect";
import { mysqlDialect } from "./mysql";
import { postgresDialect } from "./postgres";
import { sqliteDialect } from "./sqlite";

export type { CaseInsensitiveRule, DatabaseDialect, Queryable } from "./dialect";

/** Each family's dialect. */
export const DATABASE_DIALECTS: Readonly<Record<Dialect, DatabaseDialect>> = {
  sqlite: sqliteDialect,
  postgres: postgresDialect,
  mysql: mysqlDialect,
};

/** The dialect of the connection's driver (an unsupported driver is refused as `dialectOf` refuses it). */
export function databaseDialectOf(connection: DataSource): DatabaseDialect {
  return DATABASE_DIALECTS[dialectOf(connection)];
}
