/**
 * Flask-Security's convention as data: which columns each security feature needs on the User and Role
 * models (its "Models" page), with the type family, nullability and uniqueness each must have, the mixin
 * version that carries it and the column to add otherwise. Checks and fixes are driven from here; every
 * fact comes from the released mixins' columns and their `@Feature` tags (`src/columns`).
 */
import { columnFactsOf } from "../columns/facts";
import type { ColumnFact } from "../columns/facts";
import { allChildTables, SCHEMA_VERSIONS } from "../versions";
import type { ReleasedChildTable, SchemaVersion } from "../versions";

/**
 * The methods a feature with methods may enable: `SECURITY_TWO_FACTOR_ENABLED_METHODS` and
 * `SECURITY_US_ENABLED_METHODS`.
 */
export const FEATURE_METHODS = {
  twoFactor: ["email", "authenticator", "sms"],
  unifiedSignin: ["password", "email", "authenticator", "sms"],
} as const;

/** Security features, named after Flask-Security's settings. */
export interface SecurityFeatures {
  /** `SECURITY_CONFIRMABLE`: account confirmation. */
  confirmable?: boolean;
  /** `SECURITY_TRACKABLE`: sign-in times, addresses and count. */
  trackable?: boolean;
  /** `SECURITY_TWO_FACTOR`, with `SECURITY_TWO_FACTOR_ENABLED_METHODS` (`sms` needs a phone number). */
  twoFactor?: boolean | { methods: Array<(typeof FEATURE_METHODS.twoFactor)[number]> };
  /** `SECURITY_UNIFIED_SIGNIN`, with `SECURITY_US_ENABLED_METHODS` (`sms` needs a phone number). */
  unifiedSignin?: boolean | { methods: Array<(typeof FEATURE_METHODS.unifiedSignin)[number]> };
  /** Separate identity domains: auth tokens tied to `fs_token_uniquifier` instead of `fs_uniquifier`. */
  tokenIdentity?: boolean;
  /** Role permissions (`@permissions_required`). */
  permissions?: boolean;
  /** `SECURITY_WEBAUTHN`: passkeys; needs a user handle and a WebAuthn entity. */
  webauthn?: boolean;
  /** `SECURITY_MULTI_FACTOR_RECOVERY_CODES`. */
  recoveryCodes?: boolean;
  /** `SECURITY_REFRESH_TOKEN`: refresh tokens; needs the refresh-tracker table (`fs_refresh_tracker`). */
  refreshToken?: boolean;
}

/** Type families a requirement accepts (the database's exact type may vary). */
export type ColumnKind = "integer" | "string" | "text" | "boolean" | "datetime";

/** One column a feature needs. */
export interface ColumnRequirement {
  model: "User" | "Role";
  column: string;
  kind: ColumnKind;
  notNull: boolean;
  unique: boolean;
  /** The mixin of the version that added the column (`UserMixinV2`), whose definition of it this is. */
  since: string;
  /** The column to add by hand, as in the mixin. */
  definition: string;
  /** The first version that lets a NOT NULL column hold null (`password` from version 3), if one does. */
  nullableFrom?: { version: SchemaVersion; mixin: string };
}

/** The feature names used in problems and on the command line, in Flask-Security's order. */
export type FeatureName = "core" | keyof SecurityFeatures;

/** The feature names, in Flask-Security's order (`core` first). */
const FEATURE_NAMES: readonly FeatureName[] = [
  "core",
  "confirmable",
  "trackable",
  "twoFactor",
  "unifiedSignin",
  "tokenIdentity",
  "permissions",
  "webauthn",
  "recoveryCodes",
  "refreshToken",
];

interface TaggedRequirement extends ColumnRequirement {
  feature: FeatureName;
  method?: "sms";
  version: SchemaVersion;
}

let requirements: TaggedRequirement[] | undefined;

/**
 * Every column a feature needs, from the released mixins: each column as the version that added it
 * declares it, in declaration order, User before Role.
 */
function allRequirements(): TaggedRequirement[] {
  if (requirements) return requirements;
  const found = new Map<string, TaggedRequirement>();
  for (const model of ["User", "Role"] as const) {
    for (const row of SCHEMA_VERSIONS) {
      const mixin = model === "User" ? row.user : row.role;
      for (const fact of columnFactsOf(mixin)) {
        if (!fact.tag || fact.tag.feature === "none" || fact.kind === null) continue;
        const key = `${model}.${fact.column}`;
        const earlier = found.get(key);
        if (!earlier) {
          found.set(key, {
            model,
            column: fact.column,
            kind: fact.kind,
            notNull: !fact.nullable,
            unique: fact.unique,
            since: mixin.name,
            definition: fact.definition,
            feature: fact.tag.feature,
            version: row.version,
            ...(fact.tag.method ? { method: fact.tag.method } : {}),
          });
        } else if (earlier.notNull && fact.nullable && !earlier.nullableFrom) {
          earlier.nullableFrom = { version: row.version, mixin: mixin.name };
        }
      }
    }
  }
  return (requirements = [...found.values()]);
}

/** What each feature needs (`core`: always); a column tagged with a method only when that method is enabled. */
export const FEATURE_REQUIREMENTS = Object.fromEntries(
  FEATURE_NAMES.map((feature) => [
    feature,
    (features: SecurityFeatures): ColumnRequirement[] =>
      allRequirements()
        .filter(
          (need) => need.feature === feature && (!need.method || usesMethod(features[feature as keyof SecurityFeatures], need.method)),
        )
        .map(({ feature: _feature, method: _method, version: _version, ...need }) => need),
  ]),
) as Record<FeatureName, (features: SecurityFeatures) => ColumnRequirement[]>;

/** The oldest user mixin that carries every column a feature needs (`UserMixinV3`): what fixes recommend. */
export function userMixinWithEveryFeature(): string {
  const newest = Math.max(...allRequirements().map((need) => need.version));
  return SCHEMA_VERSIONS.find((row) => row.version === newest)!.user.name;
}

function usesMethod(setting: SecurityFeatures[keyof SecurityFeatures], method: string): boolean {
  return typeof setting === "object" && (setting.methods as string[]).includes(method);
}

/** A user child table a feature needs, with the columns its mixin tags with that feature. */
export interface ChildTableRequirement {
  feature: FeatureName;
  table: ReleasedChildTable;
  columns: ColumnFact[];
}

/** The user child tables the enabled `features` need: those whose mixin tags a column with one of them. */
export function childTablesNeeded(features: SecurityFeatures): ChildTableRequirement[] {
  return enabledFeatures(features).flatMap((feature) =>
    allChildTables()
      .map((table) => ({ feature, table, columns: columnFactsOf(table.mixin).filter((fact) => fact.tag?.feature === feature) }))
      .filter((need) => need.columns.length > 0),
  );
}

/** The features that are on, `core` first. */
export function enabledFeatures(features: SecurityFeatures): FeatureName[] {
  return ["core", ...(Object.keys(FEATURE_REQUIREMENTS) as FeatureName[]).filter((name) => name !== "core" && features[name])];
}

/** Type names of each family, lower case, without length (`character varying`, `varchar`, `tinyint`). */
const KIND_TYPES: Record<ColumnKind, RegExp> = {
  integer: /^(int|integer|int2|int4|int8|smallint|mediumint|bigint|tinyint)$/,
  string: /^(varchar|character varying|nvarchar|char|character|nchar|text|tinytext|mediumtext|longtext|clob|string)$/,
  text: /^(text|mediumtext|longtext|clob|character large object)$/,
  boolean: /^(boolean|bool|tinyint|bit)$/,
  datetime: /^(datetime|datetime2|timestamp|timestamp without time zone|timestamp with time zone|timestamptz)$/,
};

/** Whether a database type name belongs to a family. */
export function typeIsKind(type: string, kind: ColumnKind): boolean {
  return KIND_TYPES[kind].test(
    type
      .toLowerCase()
      .replace(/\(.*\)$/, "")
      .trim(),
  );
}
