/**
 * What everyday code needs to know of each SQL family, one file per family beside this one: how to write a
 * positional parameter, and how the database is made to treat two spellings of an email (or username) that
 * differ only in letter case as the same value (the case-insensitive rule, stated here once; the V3 migration,
 * the schema status and the datastore all read it).
 */
import type { EntityMetadata } from "typeorm";
import type { Dialect } from "../dialect";

/** Anything that runs raw SQL: a DataSource, an EntityManager or a QueryRunner. */
export interface Queryable {
  query(sql: string, parameters?: unknown[]): Promise<unknown>;
}

/**
 * The case-insensitive rule of a database: either a unique index on the column folded to one letter case
 * (`index`), or the column's own collation, which a plain unique index compares with (`collation`).
 */
export type CaseInsensitiveRule =
  | {
      by: "index";
      /** `expression` folded as the case-insensitive unique index folds it (its key expression). */
      folded(expression: string): string;
    }
  | {
      by: "collation";
      /** The collation of one column of `table`, or undefined when the database knows no such column. */
      collationOf(database: Queryable, table: EntityMetadata, column: string): Promise<string | undefined>;
      /** Whether a collation compares strings ignoring letter case. */
      ignoresCase(collation: string): boolean;
    };

/** One SQL family as everyday code sees it. */
export interface DatabaseDialect {
  /** Which family this is. */
  readonly name: Dialect;
  /** The `n`th (from 1) positional parameter of a raw statement. */
  parameter(n: number): string;
  /** How the database refuses two values that differ only in letter case. */
  readonly caseInsensitive: CaseInsensitiveRule;
}
