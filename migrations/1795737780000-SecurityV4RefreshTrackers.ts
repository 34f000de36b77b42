/**
 * Schema version 3 to 4 (UserMixinV3 to UserMixinV4 and RefreshTrackerMixinV1, Flask-Security's fsqla v4
 * plus the token uniquifier): the `fs_refresh_tracker` table is created (refresh_family unique, user_id
 * indexed and ON DELETE CASCADE). No other table changes; no existing value changes.
 *
 * FROZEN: released. A schema change is a new migration, never an edit here.
 *
 * Stops before changing anything when the app's User entity is older than UserMixinV4, or when a table of
 * that name already exists (made by Flask-Security, by synchronize or by anything else: adopt it instead);
 * on MariaDB/MySQL a table with exactly the columns and indexes this migration makes is taken as the work
 * of an earlier, killed run and kept, so running the migrations again completes. `down` drops the table with
 * every tracker in it: each refresh token issued stops working (its family is not found), so clients sign
 * in again; nothing else changes.
 */
import type { MigrationInterface, QueryRunner } from "typeorm";
import { requireNaiveUtc } from "../src/datetime";
import { allOrNothing, appSecurityTables, createTables, dropTables, frozenSchema, requireUserEntityAt } from "../src/schema";

export class SecurityV4RefreshTrackers1795737780000 implements MigrationInterface {
  name = "SecurityV4RefreshTrackers1795737780000";

  async up(queryRunner: QueryRunner): Promise<void> {
    requireNaiveUtc(queryRunner.connection, this.name);
    requireUserEntityAt(queryRunner.connection, 4, this.name);
    const { refreshTrackers } = await frozenSchema(queryRunner.connection, 4, appSecurityTables(queryRunner.connection));
    await allOrNothing(queryRunner, () => createTables(queryRunner, [refreshTrackers!]));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    requireNaiveUtc(queryRunner.connection, this.name);
    const { refreshTrackers } = await frozenSchema(queryRunner.connection, 4, appSecurityTables(queryRunner.connection));
    await dropTables(queryRunner, [refreshTrackers!]);
  }
}
