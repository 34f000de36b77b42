/**
 * What "the same email (or username) in any letter case" means for the datastore, on every database: equal
 * after Unicode's simple lower-case mapping, character by character, and nothing more. No accent, width or
 * ß→ss folding, no normalisation (a precomposed `é` and `e` + U+0301 are different spellings): a lookup that
 * returns a different account for a look-alike address is how password resets get hijacked.
 *
 * The databases fold differently (MariaDB's `_ci` collations fold accents and width but not ẞ; SQLite's
 * NOCASE and PostgreSQL's `lower()` under a C locale fold ASCII only), so the datastore asks the database for
 * candidates, with an index where one serves, and keeps the candidates that are equal by `lowerCase`.
 */

/**
 * Unicode's simple lower-case mapping, one character at a time: `Σ`→`σ` (never the final `ς`), `İ`→`i`,
 * `ẞ`→`ß`, `Ａ`→`ａ`, `K` (Kelvin sign)→`k`. What PostgreSQL's `lower()` does under a UTF-8 locale. Every
 * character maps to exactly one character, so the length in code points never changes.
 */
export function lowerCase(value: string): string {
  let lowered = "";
  // JavaScript's toLowerCase is the full mapping: U+0130 is the one character it maps to two (i + U+0307).
  for (const character of value) lowered += character === "\u0130" ? "i" : character.toLowerCase();
  return lowered;
}

/** Whether every character of `value` is ASCII. */
export function isAscii(value: string): boolean {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** The characters Unicode lower-cases to an ASCII letter: U+0130 (`İ`) to `i`, U+212A (Kelvin sign) to `k`. */
export const NON_ASCII_VARIANTS_OF_ASCII = "\u0130\u212A";

/** The ASCII letters those lower-case to. An ASCII-only fold (SQLite NOCASE, a C locale) cannot see them as variants. */
const ASCII_WITH_NON_ASCII_VARIANTS = new RegExp(`[${lowerCase(NON_ASCII_VARIANTS_OF_ASCII)}]`, "i");

/** The characters of `NON_ASCII_VARIANTS_OF_ASCII` that are variants of a letter of `value` (`İ` for an `i`). */
export function nonAsciiVariantsIn(value: string): string[] {
  const letters = lowerCase(value);
  return [...NON_ASCII_VARIANTS_OF_ASCII].filter((variant) => letters.includes(lowerCase(variant)));
}

/** The escape character of `likePattern`: `!`, which needs no quoting in any database's string syntax. */
export const LIKE_ESCAPE = "!";

/**
 * A LIKE pattern (escape `!`) for the column lower-cased by the database (`LOWER(col) LIKE pattern`) that
 * every value equal to `value` by `lowerCase` matches, whatever the database's `LOWER()` knows: an ASCII
 * character stays (lower-cased; ASCII letters are all every database lower-cases), any other, and `i` and
 * `k`, become `_` (one character). A superset: the caller keeps the candidates equal by `lowerCase`.
 */
export function likePattern(value: string): string {
  let pattern = "";
  for (const character of lowerCase(value)) {
    if (!isAscii(character) || ASCII_WITH_NON_ASCII_VARIANTS.test(character)) pattern += "_";
    else if (character === "%" || character === "_" || character === LIKE_ESCAPE) pattern += LIKE_ESCAPE + character;
    else pattern += character;
  }
  return pattern;
}
