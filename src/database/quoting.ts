/** Table and index names quoted for raw SQL, with the schema the entity's table is in. */
import type { DataSource, EntityMetadata } from "typeorm";

/** `name` (a table or index) quoted, with the schema of `metadata`'s table when it has one. */
export function quotedInSchema(connection: DataSource, metadata: EntityMetadata, name: string): string {
  return [metadata.schema, name]
    .filter(Boolean)
    .map((part) => connection.driver.escape(part!))
    .join(".");
}

/** The table of `metadata`, quoted, with its schema when it has one. */
export function quotedTable(connection: DataSource, metadata: EntityMetadata): string {
  return quotedInSchema(connection, metadata, metadata.tableName);
}
