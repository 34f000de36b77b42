/**
 * Binary column types that differ by database. Flask-Security's `web_authn.credential_id` is a unique
 * binary of up to 1024 bytes and `public_key` an unbounded binary; no one TypeORM column type says that on
 * every database (PostgreSQL knows only `bytea`, SQLite only `blob`, and MySQL 8 cannot put a unique index on
 * a `blob`). So the WebAuthn mixin declares these two type names, and TypeORM's SQLite, PostgreSQL and
 * MySQL/MariaDB drivers are taught, once, what each means on their database (`src/database/driver-extensions.ts`),
 * when TypeORM first builds the metadata of an entity with such a column: an app without one patches nothing.
 *
 * | type name                           | SQLite | PostgreSQL | MariaDB / MySQL  |
 * |-------------------------------------|--------|------------|------------------|
 * | `security-models:varbinary(1024)`   | blob   | bytea      | varbinary(1024)  |
 * | `security-models:blob`              | blob   | bytea      | blob             |
 *
 * Only columns declared with these names are affected; every other column goes through the driver as
 * before. Values are Node `Buffer`s on every database.
 */
import { Column } from "typeorm";
import type { ColumnOptions, ColumnType } from "typeorm";
import type { Dialect } from "../database/dialect";
import { extendDriver } from "../database/driver-extensions";

/** Unique-indexable binary up to 1024 bytes (`web_authn.credential_id`). */
export const VARBINARY_1024 = "security-models:varbinary(1024)";
/** Unbounded binary (`web_authn.public_key`). */
export const BLOB = "security-models:blob";

/**
 * A NOT NULL column of one of the portable binary types above. TypeORM reads a column's type when the decorator
 * runs and again when it builds the metadata of an entity that has the column; from the second read on, the
 * type teaches the drivers first.
 */
export function BinaryColumn(name: string, type: typeof VARBINARY_1024 | typeof BLOB): PropertyDecorator {
  return (target, propertyName) => {
    const options: ColumnOptions = { name, type: type as ColumnType, nullable: false };
    Column(options)(target, propertyName);
    Object.defineProperty(options, "type", {
      enumerable: true,
      configurable: true,
      get: () => {
        installBinaryTypes();
        return type;
      },
    });
  };
}

/** What each portable type is on each database family: the driver's type name and length. */
const BINARY_TYPES: Record<string, Record<Dialect, { type: string; length: string }>> = {
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
export function binaryColumnType(family: Dialect, columnType: unknown): { type: string; length: string } | undefined {
  return typeof columnType === "string" ? BINARY_TYPES[columnType]?.[family] : undefined;
}

/** Teaches the three driver classes the portable names (once; `extendDriver` keeps it so). */
export function installBinaryTypes(): void {
  for (const family of ["sqlite", "postgres", "mysql"] as const) {
    extendDriver(family, "binary-types", (prototype) => {
      const normalizeType = prototype.normalizeType as (column: { type?: unknown }) => string;
      const getColumnLength = prototype.getColumnLength as (column: { type?: unknown; length?: unknown }) => string;
      prototype.normalizeType = function (column: { type?: unknown }) {
        return binaryColumnType(family, column.type)?.type ?? normalizeType.call(this, column);
      };
      prototype.getColumnLength = function (column: { type?: unknown; length?: unknown }) {
        return binaryColumnType(family, column.type)?.length ?? getColumnLength.call(this, column);
      };
    });
  }
}
