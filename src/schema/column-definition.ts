/** A column of the frozen metadata as the DDL of an ADD COLUMN, exactly as TypeORM would type it. */
import { TableColumn } from "typeorm";
import type { DataSource } from "typeorm";
import type { ColumnMetadata } from "typeorm/metadata/ColumnMetadata";
import { TableUtils } from "typeorm/schema-builder/util/TableUtils";

/** `"name" type NULL|NOT NULL` for an ADD COLUMN, with the exact type TypeORM derives for the column. */
export function columnDefinition(connection: DataSource, column: ColumnMetadata): string {
  const tableColumn = new TableColumn(TableUtils.createTableColumnOptions(column, connection.driver));
  const type = connection.driver.createFullType(tableColumn);
  return `${connection.driver.escape(column.databaseName)} ${type} ${column.isNullable ? "NULL" : "NOT NULL"}`;
}
