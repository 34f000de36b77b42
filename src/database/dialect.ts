/**
 * Which SQL family a DataSource speaks. Everyday code (the datastore, online upgrades) and the migrations
 * both branch on it, so it lives apart from either.
 */
import type { DataSource } from "typeorm";
import { MigrationBlockedError } from "../errors";

/** The SQL families the package supports: SQLite, PostgreSQL, and MariaDB/MySQL (`mysql`). */
export type Dialect = "sqlite" | "postgres" | "mysql";

/** The SQL family of the connection's driver; the package supports SQLite, PostgreSQL, MariaDB and MySQL. */
export function dialectOf(connection: DataSource): Dialect {
  switch (connection.options.type as string) {
    case "better-sqlite3":
    case "sqlite":
      return "sqlite";
    case "postgres":
      return "postgres";
    case "mysql":
    case "mariadb":
      return "mysql";
    default:
      throw new MigrationBlockedError(
        "DataSource",
        "type",
        "unsupported-database",
        `the security migrations support better-sqlite3, postgres, mysql and mariadb, not "${connection.options.type}"`,
      );
  }
}
