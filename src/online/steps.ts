/**
 * What each shipped upgrade changes, as data the online engine works from: the same frozen metadata (column
 * types, index names) the offline migration uses, so both end in the same schema.
 */
import type { DataSource, EntityMetadata } from "typeorm";
import type { ColumnMetadata } from "typeorm/metadata/ColumnMetadata";
import type { IndexMetadata } from "typeorm/metadata/IndexMetadata";
import { SecurityV2TokenUniquifierUniqueUsername1795737660000, SecurityV3WebAuthnRecoveryCodes1795737720000 } from "../../migrations";
import { appSecurityTables, frozenSchema } from "../schema";
import { EMAIL_CASE_INSENSITIVE_INDEX } from "../user/v3";

/** One shipped upgrade, for the online path. */
export interface UpgradeStep {
  /** The shipped migration it stands in for, as recorded in the migrations table. */
  migration: string;
  /** The schema version it reaches. */
  version: number;
  /** The user table at that version. */
  user: EntityMetadata;
  /** Columns it adds to the user table, in the offline migration's order. */
  columns: ColumnMetadata[];
  /** The added column every user gets a distinct random token in (old app versions' new users too). */
  token: ColumnMetadata;
  /** Existing NOT NULL columns that become nullable. */
  nullable: ColumnMetadata[];
  /** Unique indexes it builds, in the offline migration's order. */
  indexes: IndexMetadata[];
  /** Why existing columns become unique, for the message when existing rows break that. */
  uniqueBecause: string;
  /** A unique index on a column in any letter case (PostgreSQL `lower()`, SQLite `COLLATE NOCASE`). */
  caseInsensitive?: { column: string; index: string; why: string };
  /** Tables it creates. */
  tables: EntityMetadata[];
}

/** The user mixin versions the shipped upgrades reach, oldest first. */
export const ONLINE_VERSIONS = [2, 3] as const;

/** The shipped upgrade to `version` on the app's tables. */
export async function upgradeStep(dataSource: DataSource, version: (typeof ONLINE_VERSIONS)[number]): Promise<UpgradeStep> {
  const names = appSecurityTables(dataSource);
  const { user, webauthn } = await frozenSchema(dataSource, version, names);
  const column = (name: string) => user.findColumnWithDatabaseName(name)!;
  const uniqueOn = (columns: string[]) =>
    user.indices.filter((index) => index.columns.length > 0 && columns.includes(index.columns[0].databaseName));
  if (version === 2) {
    return {
      migration: new SecurityV2TokenUniquifierUniqueUsername1795737660000().name,
      version,
      user,
      columns: ["us_totp_secrets", "us_phone_number", "fs_token_uniquifier"].map(column),
      token: column("fs_token_uniquifier"),
      nullable: [],
      indexes: uniqueOn(["username", "fs_token_uniquifier"]),
      uniqueBecause: "schema version 2 makes username unique",
      tables: [],
    };
  }
  return {
    migration: new SecurityV3WebAuthnRecoveryCodes1795737720000().name,
    version,
    user,
    columns: ["fs_webauthn_user_handle", "mf_recovery_codes"].map(column),
    token: column("fs_webauthn_user_handle"),
    nullable: [column("password")],
    indexes: uniqueOn(["us_phone_number", "fs_webauthn_user_handle"]),
    uniqueBecause: "schema version 3 makes us_phone_number unique",
    caseInsensitive: {
      column: "email",
      index: EMAIL_CASE_INSENSITIVE_INDEX,
      why: "schema version 3 makes email unique in any letter case",
    },
    tables: [webauthn!],
  };
}
