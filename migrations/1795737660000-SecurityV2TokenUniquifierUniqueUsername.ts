/**
 * Schema version 1 to 2 (UserMixinV1 to UserMixinV2, Flask-Security's fsqla v2 plus the token uniquifier):
 * - username becomes unique (a unique index; still nullable);
 * - us_totp_secrets (text) and us_phone_number (varchar 128) are added for unified sign in;
 * - fs_token_uniquifier (varchar 64) is added, filled for every existing user with a distinct random token
 *   from the database's cryptographic source in one set-based statement, then NOT NULL and unique.
 * `role` and `roles_users` do not change; no existing value changes, `update_datetime` included.
 *
 * FROZEN: released. A schema change is a new migration, never an edit here.
 *
 * Stops before changing anything when two users share a username (listing them). `down` drops what `up`
 * added: the unified sign-in secrets, phone numbers and token uniquifiers are lost, everything else stays.
 */
import type { MigrationInterface, QueryRunner } from "typeorm";
import { requireNaiveUtc } from "../src/datetime";
import { addColumns, appSecurityTables, dropColumns, frozenSchema } from "../src/schema";

const ADDED_COLUMNS = ["us_totp_secrets", "us_phone_number", "fs_token_uniquifier"];
const NEW_UNIQUE_COLUMNS = ["username", "fs_token_uniquifier"];

export class SecurityV2TokenUniquifierUniqueUsername1795737660000 implements MigrationInterface {
  name = "SecurityV2TokenUniquifierUniqueUsername1795737660000";

  async up(queryRunner: QueryRunner): Promise<void> {
    requireNaiveUtc(queryRunner.connection, this.name);
    const { user } = await frozenSchema(queryRunner.connection, 2, appSecurityTables(queryRunner.connection));
    await addColumns(queryRunner, {
      table: user,
      columns: ADDED_COLUMNS.map((name) => user.findColumnWithDatabaseName(name)!),
      token: user.findColumnWithDatabaseName("fs_token_uniquifier")!,
      indexes: user.indices.filter((index) => NEW_UNIQUE_COLUMNS.includes(index.columns[0].databaseName)),
      uniqueBecause: "schema version 2 makes username unique",
    });
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    requireNaiveUtc(queryRunner.connection, this.name);
    const { user } = await frozenSchema(queryRunner.connection, 2, appSecurityTables(queryRunner.connection));
    const indexes = user.indices.filter((index) => NEW_UNIQUE_COLUMNS.includes(index.columns[0].databaseName));
    await dropColumns(
      queryRunner,
      user,
      ADDED_COLUMNS,
      indexes.map((index) => index.name),
    );
  }
}
