/**
 * Comma lists: how Flask-Security stores `role.permissions`, `user.mf_recovery_codes` and
 * `web_authn.transports` in one TEXT column (its `AsaList` type).
 *
 * Written exactly as Flask-Security writes them (`a,b`, no spaces, `''` for an empty list) so both can share
 * the rows; read leniently (items trimmed, empties dropped, NULL is an empty list) because rows written by
 * hand or by older tools often hold `a, b`. Items that cannot survive the round trip are refused at write time.
 */
import type { ValueTransformer } from "typeorm";
import { InvalidListItemError } from "./errors";

/**
 * Why `item` cannot be stored in a comma list, or `null` when it can. The reason never quotes the item:
 * list columns hold secrets (recovery codes).
 */
export function listItemProblem(item: unknown): { rule: string; reason: string } | null {
  if (typeof item !== "string") return { rule: "list-item-type", reason: "must be a string" };
  if (item.trim() === "") return { rule: "list-item-empty", reason: "must not be empty or blank" };
  if (item.includes(",")) return { rule: "list-item-comma", reason: "must not contain a comma (the list separator)" };
  if (item !== item.trim())
    return { rule: "list-item-whitespace", reason: "must not start or end with whitespace (it would be lost on read)" };
  if (item.includes("\0")) return { rule: "list-item-nul", reason: "must not contain a NUL character" };
  return null;
}

/** Splits a stored comma list the lenient way: NULL or `''` is `[]`, items are trimmed, empty items dropped. */
export function parseCommaList(stored: string | null | undefined): string[] {
  if (!stored) return [];
  return stored
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

/**
 * Joins items the way Flask-Security does (`a,b`; `[]` is `''`), after checking every item.
 * @throws InvalidListItemError naming `entity.field` and the position of the first bad item.
 */
export function formatCommaList(items: readonly unknown[], entity: string, field: string): string {
  if (!Array.isArray(items)) {
    throw new InvalidListItemError(entity, field, "list-type", "must be an array of strings (or null)");
  }
  items.forEach((item, index) => {
    const problem = listItemProblem(item);
    if (problem) throw new InvalidListItemError(entity, field, problem.rule, `item ${index + 1} ${problem.reason}`);
  });
  return items.join(",");
}

/** The column transformer for a comma-list column: `string[]` in the entity, Flask-Security's text in the row. */
export function commaListTransformer(entity: string, field: string): ValueTransformer {
  return {
    to: (value: readonly string[] | null | undefined) =>
      value === null || value === undefined ? value : formatCommaList(value, entity, field),
    from: (stored: string | null) => parseCommaList(stored),
  };
}
