/**
 * Binary column types that differ by database. Flask-Security's `web_authn.credential_id` is a unique
 * binary of up to 1024 bytes and `public_key` an unbounded binary; no one TypeORM column type says that on
 * every database (PostgreSQL knows only `bytea`, SQLite only `blob`, and MySQL 8 cannot put a unique index on
 * a `blob`). So the WebAuthn mixin declares these two type names, and TypeORM's SQLite, PostgreSQL and
 * MySQL/MariaDB drivers are taught, once, when this module loads, what each means on their database:
 *
 * | type name                           | SQLite | PostgreSQL | MariaDB / MySQL  |
 * |-------------------------------------|--------|------------|------------------|
 * | `security-models:varbinary(1024)`   | blob   | bytea      | varbinary(1024)  |
 * | `security-models:blob`              | blob   | bytea      | blob             |
 *
 * Only columns declared with these names are affected; every other column goes through the driver as
 * before. Values are Node `Buffer`s on every database.
 */
import type { ColumnOptions, ColumnType } from "typeorm";
import { MysqlDriver } from "typeorm/driver/mysql/MysqlDriver";
import { PostgresDriver } from "typeorm/driver/postgres/PostgresDriver";
import { AbstractSqliteDriver } from "typeorm/driver/sqlite-abstract/AbstractSqliteDriver";

/** Unique-indexable binary up to 1024 bytes (`web_authn.credential_id`). */
export const VARBINARY_1024 = "security-models:varbinary(1024)";
/** Unbounded binary (`web_authn.public_key`). */
export const BLOB = "security-models:blob";

/** A NOT NULL column of one of the portable binary types above. */
export function binaryColumn(name: string, type: typeof VARBINARY_1024 | typeof BLOB): ColumnOptions {
  return { name, type: type as ColumnType, nullable: false };
}

type DriverFamily = "sqlite" | "postgres" | "mysql";

/** What each portable type is on each database family: the driver's type name and length. */
const BINARY_TYPES: Record<string, Record<DriverFamily, { type: string; length: string }>> = {
  [VARBINARY_1024]: {
    sqlite: { type: "blob", length: "" },
    postgres: { type: "bytea", length: "" },
    mysql: { type: "varbinary", length: "1024" },
  },
  [BLOB]: {
    sqlite: { type: "blob", length: "" },
    postgres: { type: "bytea", length: "" },
    mysql: { type: "blob", length: "" },
  },
};

/** The database type a portable binary column has on `family`, or undefined for any other column. */
export function binaryColumnType(family: DriverFamily, columnType: unknown): { type: string; length: string } | undefined {
  return typeof columnType === "string" ? BINARY_TYPES[columnType]?.[family] : undefined;
}

interface PatchableDriver {
  normalizeType(column: { type?: unknown }): string;
  getColumnLength(column: { type?: unknown; length?: unknown }): string;
}

const TAUGHT = Symbol.for("typeorm-security-models:binary-types");

/** Wraps a driver class's type methods so the portable names resolve; the wrapper is installed once. */
function teach(driverClass: { prototype: unknown }, family: DriverFamily): void {
  const prototype = driverClass.prototype as PatchableDriver & { [TAUGHT]?: true };
  if (prototype[TAUGHT]) return;
  const normalizeType = prototype.normalizeType;
  const getColumnLength = prototype.getColumnLength;
  prototype.normalizeType = function (column) {
    return binaryColumnType(family, column.type)?.type ?? normalizeType.call(this, column);
  };
  prototype.getColumnLength = function (column) {
    return binaryColumnType(family, column.type)?.length ?? getColumnLength.call(this, column);
  };
  prototype[TAUGHT] = true;
}

teach(AbstractSqliteDriver, "sqlite");
teach(PostgresDriver, "postgres");
teach(MysqlDriver, "mysql");
