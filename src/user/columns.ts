/**
 * Column options shared by several user versions, so each type is spelled once.
 *
 * Uniqueness is declared with `@Index({ unique: true })`, never `unique: true`: every database then holds a
 * unique index (not a table constraint), which SQLite can add to a live table in place; a UNIQUE table
 * constraint would make every later version that adds one rebuild the whole table on SQLite.
 *
 * A datetime is written
 * `type: Date` so every driver picks its naive type (SQLite `datetime`, PostgreSQL `timestamp without time
 * zone`, MariaDB/MySQL `datetime(6)`, keeping the microseconds Flask-Security writes); see `withNaiveUtc`.
 */
import type { ColumnOptions } from "typeorm";

/** A nullable naive-UTC datetime column named `name`. */
export function datetimeColumn(name: string): ColumnOptions {
  return { name, type: Date, precision: 6, nullable: true };
}

/** A varchar column of `length` characters named `name`; nullable unless `options` says otherwise. */
export function varcharColumn(name: string, length: number, options: ColumnOptions = {}): ColumnOptions {
  return { name, type: "varchar", length, nullable: true, ...options };
}

/** E.164 phone numbers as Flask-Security's PhoneUtil stores them (`+16505550101`). */
export const E164 = /^\+[1-9]\d{1,14}$/;
