/**
 * Schema version 2 to 3 (UserMixinV2 to UserMixinV3 and WebAuthnMixinV1, Flask-Security's fsqla v3 plus the
 * token uniquifier):
 * - fs_webauthn_user_handle (varchar 64) is added, filled for every existing user with a distinct random
 *   token from the database's cryptographic source in one set-based statement, then unique;
 * - mf_recovery_codes (text) is added;
 * - password becomes nullable; us_phone_number becomes unique;
 * - the database refuses two emails that differ only in letter case (a unique index on lower(email) on
 *   PostgreSQL, on email COLLATE NOCASE on SQLite; MariaDB/MySQL's case-insensitive collation already does it);
 * - the `web_authn` table is created (credential_id unique, user_id ON DELETE CASCADE).
 * `role` and `roles_users` do not change; no existing value changes, `update_datetime` included.
 *
 * FROZEN: released. A schema change is a new migration, never an edit here.
 *
 * Stops before changing anything when two users share a phone number or an email in different letter case
 * (listing them), or when the WebAuthn table already exists; every check comes before the first change, as
 * MariaDB/MySQL commit each DDL statement at once. `down` stops before changing anything when a user has no
 * password (listing them), and otherwise drops what `up` added: the passkeys, user handles and recovery codes
 * are lost, everything else stays.
 */
import type { MigrationInterface, QueryRunner } from "typeorm";
import { requireNaiveUtc } from "../src/datetime";
import {
  addCaseInsensitiveUnique,
  addColumns,
  allOrNothing,
  appSecurityTables,
  createCheckedTables,
  dropColumns,
  dropIndexIfExists,
  dropTables,
  frozenSchema,
  requireUserEntityAt,
  setNotNull,
  tablesToCreate,
} from "../src/schema";
import { EMAIL_CASE_INSENSITIVE_INDEX } from "../src/user/v3";

const ADDED_COLUMNS = ["fs_webauthn_user_handle", "mf_recovery_codes"];
const NEW_UNIQUE_COLUMNS = ["us_phone_number", "fs_webauthn_user_handle"];

export class SecurityV3WebAuthnRecoveryCodes1795737720000 implements MigrationInterface {
  name = "SecurityV3WebAuthnRecoveryCodes1795737720000";

  async up(queryRunner: QueryRunner): Promise<void> {
    requireNaiveUtc(queryRunner.connection, this.name);
    requireUserEntityAt(queryRunner.connection, 3, this.name);
    const { user, webauthn } = await frozenSchema(queryRunner.connection, 3, appSecurityTables(queryRunner.connection));
    const why = "schema version 3 makes email unique in any letter case";
    await allOrNothing(queryRunner, async () => {
      // Refused before the user table changes: MariaDB/MySQL commit its ALTER at once.
      const newTables = await tablesToCreate(queryRunner, [webauthn!]);
      await addCaseInsensitiveUnique(queryRunner, user, "email", EMAIL_CASE_INSENSITIVE_INDEX, why);
      await addColumns(queryRunner, {
        table: user,
        columns: ADDED_COLUMNS.map((name) => user.findColumnWithDatabaseName(name)!),
        token: user.findColumnWithDatabaseName("fs_webauthn_user_handle")!,
        nullable: [user.findColumnWithDatabaseName("password")!],
        indexes: user.indices.filter((index) => index.columns.length > 0 && NEW_UNIQUE_COLUMNS.includes(index.columns[0].databaseName)),
        uniqueBecause: "schema version 3 makes us_phone_number unique",
      });
      await createCheckedTables(queryRunner, newTables);
    });
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    requireNaiveUtc(queryRunner.connection, this.name);
    const names = appSecurityTables(queryRunner.connection);
    const { user: v2User } = await frozenSchema(queryRunner.connection, 2, names);
    const { user, webauthn } = await frozenSchema(queryRunner.connection, 3, names);
    await setNotNull(queryRunner, v2User, v2User.findColumnWithDatabaseName("password")!, "schema version 2 requires a password");
    await dropTables(queryRunner, [webauthn!]);
    const indexes = user.indices.filter((index) => index.columns.length > 0 && NEW_UNIQUE_COLUMNS.includes(index.columns[0].databaseName));
    await dropIndexIfExists(queryRunner, user, EMAIL_CASE_INSENSITIVE_INDEX);
    await dropColumns(
      queryRunner,
      user,
      ADDED_COLUMNS,
      indexes.map((index) => index.name),
    );
  }
}
