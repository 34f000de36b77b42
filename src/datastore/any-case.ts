/**
 * How the datastore finds the users whose email (or username) equals a value in any letter case, as
 * letter-case.ts defines it: the database's own case-insensitive comparison (its case-insensitive rule,
 * `src/database/dialects`) where that finds every variant, so the index the rule gives serves the query; a
 * LIKE that leaves every character open that the comparison might not fold otherwise, a scan. The candidates
 * are then narrowed by `lowerCase` (`sameInAnyCase`).
 *
 * Which letters the comparison folds is asked of the database once per column, with samples: a collation or
 * a locale is the database's setting, not the dialect's.
 */
import type { DataSource, EntityMetadata } from "typeorm";
import { databaseDialectOf } from "../database/dialects";
import { isAscii, LIKE_ESCAPE, likePattern, lowerCase, NON_ASCII_VARIANTS_OF_ASCII, nonAsciiVariantsIn } from "./letter-case";

/** A WHERE condition on the user query (alias `user`) and its named parameters. */
export interface AnyCaseCondition {
  where: string;
  parameters: Record<string, string>;
}

/** Letters of several scripts, and the characters Unicode lower-cases to an ASCII letter (`İ`, Kelvin sign). */
const UNICODE_SAMPLE = "ÄΣİＡẞДK\u212A";

/** The database's case-insensitive comparison of one column, and which letters it folds. */
interface Comparison {
  /** SQL that is true when `a` (of the column's type) and `b` compare equal ignoring case. */
  equal(a: string, b: string): string;
  /** It folds every letter as `lowerCase` does (PostgreSQL under a UTF-8 locale). */
  foldsUnicode: boolean;
  /**
   * Which of `İ` and the Kelvin sign it folds to `i` and `k` (MariaDB 10.11: `_unicode_ci` both,
   * `_general_ci` only `İ`; SQLite NOCASE and a C locale neither).
   */
  foldedVariants: Set<string>;
}

/** Case-insensitive lookups on one user table, with what the database's comparison folds asked once per column. */
export class AnyCaseLookups {
  private readonly comparisons = new Map<string, Promise<Comparison>>();

  /** Lookups on the table of `table()` (a function: the metadata is read when first needed). */
  constructor(
    private readonly dataSource: DataSource,
    private readonly table: () => EntityMetadata,
  ) {}

  /**
   * The condition that finds every row whose `property` may equal `value` in any letter case: a superset, which
   * `sameInAnyCase` narrows. The database's own comparison where it finds every variant: for any value when
   * it folds as `lowerCase` does; otherwise for an ASCII value, except, for a refusal, one with `i` (or `k`)
   * when the comparison does not fold `İ` (or the Kelvin sign) to it (SQLite NOCASE, a C locale; the Kelvin
   * sign under MariaDB's `_general_ci`): a refusal is then a scan, a lookup stays on the index (and may miss such a spelling: it
   * answers null, never another user).
   */
  async condition(property: "email" | "username", value: string, purpose: "lookup" | "refusal"): Promise<AnyCaseCondition> {
    const comparison = await this.comparisonOf(this.table().findColumnWithPropertyName(property)!.databaseName);
    const findsAll =
      comparison.foldsUnicode ||
      (isAscii(value) && (purpose === "lookup" || nonAsciiVariantsIn(value).every((variant) => comparison.foldedVariants.has(variant))));
    if (findsAll) return { where: comparison.equal(`user.${property}`, ":value"), parameters: { value } };
    return { where: `LOWER(user.${property}) LIKE :pattern ESCAPE '${LIKE_ESCAPE}'`, parameters: { pattern: likePattern(value) } };
  }

  /** The comparison of `column`, asked of the database once (again after a failure). */
  private comparisonOf(column: string): Promise<Comparison> {
    const rule = databaseDialectOf(this.dataSource).caseInsensitive;
    const key = rule.by === "collation" ? column : "";
    let comparison = this.comparisons.get(key);
    if (!comparison) {
      comparison = this.probe(column).catch((error) => {
        this.comparisons.delete(key);
        throw error;
      });
      this.comparisons.set(key, comparison);
    }
    return comparison;
  }

  private async probe(column: string): Promise<Comparison> {
    const dialect = databaseDialectOf(this.dataSource);
    const rule = dialect.caseInsensitive;
    let equal: Comparison["equal"];
    let typed = dialect.parameter(1);
    if (rule.by === "index") {
      equal = (a, b) => `${rule.folded(a)} = ${rule.folded(b)}`;
    } else {
      const collation = await rule.collationOf(this.dataSource, this.table(), column);
      equal = collation !== undefined && rule.ignoresCase(collation) ? (a, b) => `${a} = ${b}` : (a, b) => `LOWER(${a}) = LOWER(${b})`;
      // The samples compared as values of the column: its character set and collation.
      const charset = collation?.split("_")[0];
      if (!collation || !/^\w+$/.test(collation) || !/^\w+$/.test(charset!))
        return { equal, foldsUnicode: false, foldedVariants: new Set() };
      typed = `CONVERT(${typed} USING ${charset}) COLLATE ${collation}`;
    }
    const folds = async (sample: string) => {
      const rows = await this.dataSource.query<Array<{ folds: number | string }>>(
        `SELECT CASE WHEN ${equal(typed, dialect.parameter(2))} THEN 1 ELSE 0 END AS folds`,
        [sample, lowerCase(sample)],
      );
      return Number(rows[0]?.folds) === 1;
    };
    const foldedVariants = new Set<string>();
    for (const variant of NON_ASCII_VARIANTS_OF_ASCII) if (await folds(variant)) foldedVariants.add(variant);
    return { equal, foldsUnicode: await folds(UNICODE_SAMPLE), foldedVariants };
  }
}

/**
 * The rows of `candidates` whose `property` equals `value` in any letter case, the exact spelling first, then
 * by id (rows written around the datastore may hold two variants).
 */
export function sameInAnyCase<T extends { id: number }>(candidates: T[], property: "email" | "username", value: string): T[] {
  const wanted = lowerCase(value);
  const valueOf = (row: T) => (row as unknown as Record<string, unknown>)[property];
  return candidates
    .filter((row) => typeof valueOf(row) === "string" && lowerCase(valueOf(row) as string) === wanted)
    .sort((a, b) => Number(valueOf(b) === value) - Number(valueOf(a) === value) || a.id - b.id);
}
