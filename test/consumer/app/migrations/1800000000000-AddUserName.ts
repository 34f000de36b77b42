/**
 * The app's own migration after the shipped ones: the `name` column its User adds (the quickstart's too). A
 * plain ALTER TABLE, as the demo's: on SQLite, `queryRunner.addColumn` rebuilds the user table, and the
 * rebuild loses version 3's case-insensitive email index (`status` then reports it).
 */
import type { MigrationInterface, QueryRunner } from "typeorm";

export class AddUserName1800000000000 implements MigrationInterface {
  async up(queryRunner: QueryRunner): Promise<void> {
    const q = (name: string) => queryRunner.connection.driver.escape(name);
    await queryRunner.query(`ALTER TABLE ${q("user")} ADD COLUMN ${q("name")} varchar(80) NULL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const q = (name: string) => queryRunner.connection.driver.escape(name);
    await queryRunner.query(`ALTER TABLE ${q("user")} DROP COLUMN ${q("name")}`);
  }
}
