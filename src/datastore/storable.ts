/**
 * Checks that every string value of an entity can be stored and read back unchanged, on every database,
 * before the datastore writes it. class-validator's rules do not cover these, and each database fails
 * differently without them: PostgreSQL refuses a NUL byte with a raw driver error, MariaDB stores `?` or
 * U+FFFD for a lone surrogate, and a varchar length is counted in code points by the databases but in
 * UTF-16 units minus variation selectors by class-validator's MaxLength.
 */
import type { EntityMetadata } from "typeorm";
import type { FieldProblem } from "../errors";
import { hasLoneSurrogate } from "../unicode";

/** The problems of `entity`'s string columns (one per field), never quoting a value. */
export function unstorableFields(metadata: EntityMetadata, entity: object): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const column of metadata.columns) {
    const value = (entity as Record<string, unknown>)[column.propertyName];
    if (typeof value !== "string") continue;
    const field = column.propertyName;
    const length = Number(column.length);
    if (value.includes("\0")) {
      problems.push({ field, rule: "noNulCharacter", message: `${field} must not contain a NUL character, which PostgreSQL cannot store` });
    } else if (hasLoneSurrogate(value)) {
      problems.push({
        field,
        rule: "wellFormedUnicode",
        message: `${field} must be well-formed Unicode (it holds a lone surrogate, which no database stores as given)`,
      });
    } else if (length > 0 && [...value].length > length) {
      problems.push({
        field,
        rule: "maxLength",
        message: `${field} must be at most ${length} characters (counted as the database counts them, in code points)`,
      });
    }
  }
  return problems;
}
