/**
 * The one way this package extends TypeORM's drivers. TypeORM has no per-DataSource hook for column types or
 * value formats, so a driver class's methods are wrapped: once per process, marked on the class with one
 * `Symbol.for` spelling (so two copies of the package do not wrap twice), and only when something that needs
 * it is first used, never when the package is imported. The driver classes are loaded on demand for the same
 * reason: an app that only hashes passwords loads none of them.
 */
import type { Dialect } from "./dialect";

/** A driver class's prototype, whose methods an extension wraps. */
export type DriverPrototype = Record<string | symbol, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** TypeORM's driver class of each SQL family (SQLite's abstract one, which better-sqlite3's extends). */
const DRIVER_CLASSES: Record<Dialect, () => { prototype: DriverPrototype }> = {
  sqlite: () => require("typeorm/driver/sqlite-abstract/AbstractSqliteDriver").AbstractSqliteDriver,
  postgres: () => require("typeorm/driver/postgres/PostgresDriver").PostgresDriver,
  mysql: () => require("typeorm/driver/mysql/MysqlDriver").MysqlDriver,
};

/** The mark an extension leaves on a driver class. */
function markOf(extension: string): symbol {
  return Symbol.for(`typeorm-security-models:driver-extension:${extension}`);
}

/** Runs `wrap` on the prototype of `family`'s driver class, unless the extension named `extension` is already there. */
export function extendDriver(family: Dialect, extension: string, wrap: (prototype: DriverPrototype) => void): void {
  const prototype = DRIVER_CLASSES[family]().prototype;
  const mark = markOf(extension);
  if (prototype[mark]) return;
  wrap(prototype);
  prototype[mark] = true;
}

/** Whether the extension named `extension` is installed on `family`'s driver class. */
export function isDriverExtended(family: Dialect, extension: string): boolean {
  return DRIVER_CLASSES[family]().prototype[markOf(extension)] === true;
}
