/**
 * Schema version 1: creates the `user`, `role` and `roles_users` tables of UserMixinV1 and RoleMixinV1
 * (Flask-Security's fsqla v1, with a composite key and CASCADE foreign keys on the join table).
 *
 * FROZEN: released. A schema change is a new migration, never an edit here.
 *
 * Table names are the app's (`@Entity("accounts")`); the types, indexes and keys are what TypeORM expects
 * of a V1 entity, so `migration:generate` finds nothing to do afterwards. Stops, changing nothing, when one
 * of the tables already exists.
 */
import type { MigrationInterface, QueryRunner } from "typeorm";
import { requireNaiveUtc } from "../src/datetime";
import { appSecurityTables, createTables, dropTables, frozenSchema } from "../src/schema";

export class SecurityV1CreateTables1795737600000 implements MigrationInterface {
  name = "SecurityV1CreateTables1795737600000";

  async up(queryRunner: QueryRunner): Promise<void> {
    requireNaiveUtc(queryRunner.connection, this.name);
    const v1 = await frozenSchema(queryRunner.connection, 1, appSecurityTables(queryRunner.connection));
    await createTables(queryRunner, [v1.role, v1.user, v1.links]);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    requireNaiveUtc(queryRunner.connection, this.name);
    const v1 = await frozenSchema(queryRunner.connection, 1, appSecurityTables(queryRunner.connection));
    await dropTables(queryRunner, [v1.links, v1.user, v1.role]);
  }
}
