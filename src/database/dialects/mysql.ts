/** MariaDB and MySQL as everyday code sees them. */
import type { EntityMetadata } from "typeorm";
import type { DatabaseDialect, Queryable } from "./dialect";

/**
 * MariaDB/MySQL: a unique index compares with the column's collation, so a case-insensitive collation (`_ci`)
 * is the rule, and no extra index is needed.
 */
export const mysqlDialect = {
  name: "mysql" as const,
  parameter: () => "?",
  caseInsensitive: {
    by: "collation" as const,
    async collationOf(database: Queryable, table: EntityMetadata, column: string): Promise<string | undefined> {
      const rows = (await database.query(
        `SELECT COLLATION_NAME AS collation FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND COLUMN_NAME = ?`,
        [table.schema ?? table.database ?? null, table.tableName, column],
      )) as Array<{ collation: string | null }>;
      return rows[0]?.collation ?? undefined;
    },
    ignoresCase: (collation: string) => /_ci$/.test(collation),
  },
} satisfies DatabaseDialect;
