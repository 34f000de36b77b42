/** PostgreSQL as everyday code sees it. */
import type { DatabaseDialect } from "./dialect";

/** PostgreSQL: a unique index on `lower(column)` (Unicode under a UTF-8 locale, ASCII only under C). */
export const postgresDialect = {
  name: "postgres" as const,
  parameter: (n: number) => `$${n}`,
  caseInsensitive: { by: "index" as const, folded: (expression: string) => `lower(${expression})` },
} satisfies DatabaseDialect;
