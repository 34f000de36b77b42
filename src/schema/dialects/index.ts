/** The migration side of each SQL family. */
import type { DataSource } from "typeorm";
import { dialectOf } from "../../database/dialect";
import type { Dialect } from "../../database/dialect";
import type { SchemaDialect } from "./dialect";
import { mysqlSchema } from "./mysql";
import { postgresSchema } from "./postgres";
import { sqliteSchema } from "./sqlite";

export type { AddColumns, ColumnAddition, SchemaDialect } from "./dialect";
export { rewriteSqliteTable, setSqliteNotNull } from "./sqlite";

/** Each family's migration side. */
export const SCHEMA_DIALECTS: Readonly<Record<Dialect, SchemaDialect>> = {
  sqlite: sqliteSchema,
  postgres: postgresSchema,
  mysql: mysqlSchema,
};

/** The migration side of the connection's family (an unsupported driver is refused as `dialectOf` refuses it). */
export function schemaDialectOf(connection: DataSource): SchemaDialect {
  return SCHEMA_DIALECTS[dialectOf(connection)];
}
