/**
 * The columns each version must have, copied from Flask-Security 5.1.2's fsqla models
 * (shared/reference/flask-security/SCHEMA.md §1) plus this package's fs_token_uniquifier from v2 on.
 * Written out by hand on purpose: the schema tests compare the live database with this, not with the
 * package's own declarations.
 */
import type { DatabaseKind } from "./servers";

export type Kind = "int" | "varchar" | "text" | "bool" | "datetime" | "varbinary1024" | "blob";
export interface ExpectedColumn {
  name: string;
  kind: Kind;
  length?: number;
  nullable: boolean;
  unique: boolean;
}

const col = (name: string, kind: Kind, nullable: boolean, unique = false, length?: number): ExpectedColumn => ({
  name,
  kind,
  length,
  nullable,
  unique,
});
const varchar = (name: string, length: number, nullable: boolean, unique = false) => col(name, "varchar", nullable, unique, length);

export const ROLE_V1: ExpectedColumn[] = [
  col("id", "int", false),
  varchar("name", 80, false, true),
  varchar("description", 255, true),
  col("permissions", "text", true),
  col("update_datetime", "datetime", false),
];

const USER_COMMON: ExpectedColumn[] = [
  col("id", "int", false),
  varchar("email", 255, false, true),
  col("active", "bool", false),
  varchar("fs_uniquifier", 64, false, true),
  col("confirmed_at", "datetime", true),
  col("last_login_at", "datetime", true),
  col("current_login_at", "datetime", true),
  varchar("last_login_ip", 64, true),
  varchar("current_login_ip", 64, true),
  col("login_count", "int", true),
  varchar("tf_primary_method", 64, true),
  varchar("tf_totp_secret", 255, true),
  varchar("tf_phone_number", 128, true),
  col("create_datetime", "datetime", false),
  col("update_datetime", "datetime", false),
];

export const USER_V1: ExpectedColumn[] = [...USER_COMMON, varchar("username", 255, true), varchar("password", 255, false)];

export const USER_V2: ExpectedColumn[] = [
  ...USER_COMMON,
  varchar("password", 255, false),
  varchar("username", 255, true, true),
  col("us_totp_secrets", "text", true),
  varchar("us_phone_number", 128, true),
  varchar("fs_token_uniquifier", 64, false, true),
];

export const USER_V3: ExpectedColumn[] = [
  ...USER_COMMON,
  varchar("username", 255, true, true),
  col("us_totp_secrets", "text", true),
  varchar("fs_webauthn_user_handle", 64, true, true),
  col("mf_recovery_codes", "text", true),
  varchar("password", 255, true),
  varchar("us_phone_number", 128, true, true),
  varchar("fs_token_uniquifier", 64, false, true),
];

/** fsqla v3's web_authn (credential_id is LargeBinary(1024): varbinary on MariaDB, so it can be indexed). */
export const WEBAUTHN_V1: ExpectedColumn[] = [
  col("id", "int", false),
  col("credential_id", "varbinary1024", false, true),
  col("public_key", "blob", false),
  col("sign_count", "int", true),
  col("transports", "text", true),
  col("backup_state", "bool", false),
  varchar("device_type", 64, false),
  varchar("extensions", 255, true),
  col("create_datetime", "datetime", false),
  col("lastuse_datetime", "datetime", false),
  varchar("name", 64, false),
  varchar("usage", 64, false),
  col("user_id", "int", false),
];

/** The type name each database reports for a kind (SQLite: declared type; others: information_schema). */
export const LIVE_TYPE: Record<DatabaseKind, Record<Kind, string>> = {
  sqlite: { int: "integer", varchar: "varchar", text: "text", bool: "boolean", datetime: "datetime", varbinary1024: "blob", blob: "blob" },
  postgres: {
    int: "integer",
    varchar: "character varying",
    text: "text",
    bool: "boolean",
    datetime: "timestamp without time zone",
    varbinary1024: "bytea",
    blob: "bytea",
  },
  mariadb: {
    int: "int",
    varchar: "varchar",
    text: "text",
    bool: "tinyint",
    datetime: "datetime",
    varbinary1024: "varbinary",
    blob: "blob",
  },
};

/** fsqla v4's fs_refresh_tracker (Flask-Security 5.9): gen is nullable there (its default 1 is set by the ORM). */
export const REFRESH_TRACKER_V1: ExpectedColumn[] = [
  col("id", "int", false),
  varchar("refresh_family", 64, false, true),
  col("gen", "int", true),
  col("expires_at", "datetime", false),
  col("revoked_at", "datetime", true),
  col("last_used_at", "datetime", false),
  col("create_datetime", "datetime", false),
  varchar("name", 64, false),
  col("user_id", "int", false),
];
