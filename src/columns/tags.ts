/**
 * Tags on the mixins' column properties: which security feature needs the column, and whether its value is a
 * secret, the way ASP.NET Identity marks a property `[ProtectedPersonalData]`. TypeORM never reads them, so a
 * frozen mixin may gain a tag without its schema changing; the feature checks (`src/columns/facts.ts`) and
 * `toJSON()` read them.
 */
import type { FeatureName } from "../checks/features";

/** What a tag says about one column property. */
export interface ColumnTag {
  /** The feature that needs the column (`core`: always), or `none`: no feature check asks for it. */
  feature: FeatureName | "none";
  /** Needed only when the feature's enabled methods include this one (`tf_phone_number`: sms). */
  method?: "sms";
  /** Whoever holds the value can act as the user: never in `toJSON()`, logs or error messages. */
  secret: boolean;
}

/** The tags declared on each class itself (not inherited), by property. */
const TAGS = new Map<Function, Map<string, ColumnTag>>();

/**
 * Every property tagged `@Secret()` in any mixin, filled as the mixins load: the default of
 * `UserBase.secretProperties`, which an app extends with secret columns of its own.
 */
export const SECRET_PROPERTIES: readonly string[] = [];

function tag(target: object, property: string, change: Partial<ColumnTag>): void {
  const owner = target.constructor;
  let tags = TAGS.get(owner);
  if (!tags) TAGS.set(owner, (tags = new Map()));
  tags.set(property, { feature: "none", secret: false, ...tags.get(property), ...change });
}

/**
 * Names the security feature that needs the column (`core`: always needed; `none`: no feature check asks for
 * it), optionally only when the feature enables `method`.
 */
export function Feature(feature: FeatureName | "none", method?: ColumnTag["method"]): PropertyDecorator {
  return (target, property) => tag(target, String(property), method ? { feature, method } : { feature });
}

/** Marks the column's value as a secret: never in `toJSON()`, logs or error messages. */
export function Secret(): PropertyDecorator {
  return (target, property) => {
    tag(target, String(property), { secret: true });
    const list = SECRET_PROPERTIES as string[];
    if (!list.includes(String(property))) list.push(String(property));
  };
}

/**
 * The tags of `mixin` and the classes it extends, by property; a subclass's tag on a property wins over its
 * parent's.
 */
export function columnTagsOf(mixin: Function): Map<string, ColumnTag> {
  const chain: Function[] = [];
  for (let current = mixin; current && current !== Function.prototype; current = Object.getPrototypeOf(current)) chain.unshift(current);
  const tags = new Map<string, ColumnTag>();
  for (const owner of chain) for (const [property, found] of TAGS.get(owner) ?? []) tags.set(property, found);
  return tags;
}

/** The secret properties of `mixin` and the classes it extends. */
export function secretPropertiesOf(mixin: Function): string[] {
  return [...columnTagsOf(mixin)].filter(([, found]) => found.secret).map(([property]) => property);
}
