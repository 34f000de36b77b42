/** SQLite as everyday code sees it. */
import type { DatabaseDialect } from "./dialect";

/**
 * SQLite: `COLLATE NOCASE`, which folds ASCII letters only, as SQLite's `lower()` does. The index keys on the
 * column with that collation, not on an expression: TypeORM's SQLite table rebuilds copy indexes by column name
 * and would break an expression index.
 */
export const sqliteDialect = {
  name: "sqlite" as const,
  parameter: () => "?",
  caseInsensitive: { by: "index" as const, folded: (expression: string) => `${expression} COLLATE NOCASE` },
} satisfies DatabaseDialect;
