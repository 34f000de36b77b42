/**
 * The demo app's own migration, beside the shipped ones: the `name` column its User entity adds. A plain
 * ALTER TABLE: on SQLite, TypeORM's `queryRunner.addColumn` would rebuild the whole user table (see the README).
 */
import type { MigrationInterface, QueryRunner } from "typeorm";

export class AddUserName1800000000000 implements MigrationInterface {
  name = "AddUserName1800000000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    const q = (name: string) => queryRunner.connection.driver.escape(name);
    await queryRunner.query(`ALTER TABLE ${q("user")} ADD COLUMN ${q("name")} varchar(80) NULL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const q = (name: string) => queryRunner.connection.driver.escape(name);
    await queryRunner.query(`ALTER TABLE ${q("user")} DROP COLUMN ${q("name")}`);
  }
}
