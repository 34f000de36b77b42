/** Unicode well-formedness, which the databases, the validators and the password hasher all rely on. */

/** Half of a UTF-16 surrogate pair without its other half: not a character, so nothing stores or encodes it as given. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Whether `text` holds a lone surrogate. Node's UTF-8 encoder turns each into U+FFFD, so two different
 * strings would become the same bytes; `encodeURIComponent` (which email validation uses) throws on one.
 */
export function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}
