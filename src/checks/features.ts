/**
 * Flask-Security's convention as data: which columns each security feature needs on the User and Role
 * models (its "Models" page, DESIGN.md §6), with the type family, nullability and uniqueness each must have,
 * the mixin version that carries it and the column to add otherwise. Checks and fixes are driven from here.
 */

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
}

/** Type families a requirement accepts (the database's exact type may vary). */
export type ColumnKind = "integer" | "string" | "text" | "boolean" | "datetime";

/** One column a feature needs. */
export interface ColumnRequirement {
  model: "User" | "Role";
  column: string;
  kind: ColumnKind;
  notNull?: boolean;
  unique?: boolean;
  /** The mixin version that carries the column. */
  since: "UserMixinV1" | "UserMixinV2" | "UserMixinV3" | "RoleMixinV1";
  /** The column to add by hand, as in the mixin. */
  definition: string;
}

const user = (
  column: string,
  kind: ColumnKind,
  since: ColumnRequirement["since"],
  definition: string,
  extra: Partial<ColumnRequirement> = {},
): ColumnRequirement => ({
  model: "User",
  column,
  kind,
  since,
  definition,
  ...extra,
});

/** The feature names used in problems and on the command line, in Flask-Security's order. */
export type FeatureName = "core" | keyof SecurityFeatures;

/** What each feature needs (`core`: always). */
export const FEATURE_REQUIREMENTS: Record<FeatureName, (features: SecurityFeatures) => ColumnRequirement[]> = {
  core: () => [
    user("email", "string", "UserMixinV1", "email varchar(255) NOT NULL UNIQUE", { notNull: true, unique: true }),
    user("password", "string", "UserMixinV1", "password varchar(255) NOT NULL", { notNull: true }),
    user("active", "boolean", "UserMixinV1", "active boolean NOT NULL", { notNull: true }),
    user("fs_uniquifier", "string", "UserMixinV1", "fs_uniquifier varchar(64) NOT NULL UNIQUE", { notNull: true, unique: true }),
    {
      model: "Role",
      column: "name",
      kind: "string",
      since: "RoleMixinV1",
      definition: "name varchar(80) NOT NULL UNIQUE",
      notNull: true,
      unique: true,
    },
    { model: "Role", column: "description", kind: "string", since: "RoleMixinV1", definition: "description varchar(255) NULL" },
  ],
  confirmable: () => [user("confirmed_at", "datetime", "UserMixinV1", "confirmed_at datetime NULL")],
  trackable: () => [
    user("last_login_at", "datetime", "UserMixinV1", "last_login_at datetime NULL"),
    user("current_login_at", "datetime", "UserMixinV1", "current_login_at datetime NULL"),
    user("last_login_ip", "string", "UserMixinV1", "last_login_ip varchar(64) NULL"),
    user("current_login_ip", "string", "UserMixinV1", "current_login_ip varchar(64) NULL"),
    user("login_count", "integer", "UserMixinV1", "login_count integer NULL"),
  ],
  twoFactor: (f) => [
    user("tf_totp_secret", "string", "UserMixinV1", "tf_totp_secret varchar(255) NULL"),
    user("tf_primary_method", "string", "UserMixinV1", "tf_primary_method varchar(64) NULL"),
    ...(usesSms(f.twoFactor) ? [user("tf_phone_number", "string", "UserMixinV1", "tf_phone_number varchar(128) NULL")] : []),
  ],
  unifiedSignin: (f) => [
    user("us_totp_secrets", "text", "UserMixinV2", "us_totp_secrets text NULL"),
    ...(usesSms(f.unifiedSignin) ? [user("us_phone_number", "string", "UserMixinV2", "us_phone_number varchar(128) NULL")] : []),
  ],
  tokenIdentity: () => [
    user("fs_token_uniquifier", "string", "UserMixinV2", "fs_token_uniquifier varchar(64) NOT NULL UNIQUE", {
      notNull: true,
      unique: true,
    }),
  ],
  permissions: () => [{ model: "Role", column: "permissions", kind: "text", since: "RoleMixinV1", definition: "permissions text NULL" }],
  webauthn: () => [
    user("fs_webauthn_user_handle", "string", "UserMixinV3", "fs_webauthn_user_handle varchar(64) NULL UNIQUE", { unique: true }),
  ],
  recoveryCodes: () => [user("mf_recovery_codes", "text", "UserMixinV3", "mf_recovery_codes text NULL")],
};

function usesSms(setting: SecurityFeatures["twoFactor"] | SecurityFeatures["unifiedSignin"]): boolean {
  return typeof setting === "object" && (setting.methods as string[]).includes("sms");
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
