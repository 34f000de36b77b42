/** The demo app's own migration, beside the shipped ones: the `name` column its User entity adds. */
import { TableColumn } from "typeorm";
import type { MigrationInterface, QueryRunner } from "typeorm";

export class AddUserName1800000000000 implements MigrationInterface {
  name = "AddUserName1800000000000";

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn("user", new TableColumn({ name: "name", type: "varchar", length: "80", isNullable: true }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn("user", "name");
  }
}
