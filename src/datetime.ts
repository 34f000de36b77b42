/**
 * Naive UTC datetimes on every database, whatever the process's time zone.
 *
 * Flask-Security stores datetimes without a zone and means UTC. TypeORM stores a JS Date in a zone-less
 * column as the process-local wall clock on PostgreSQL and MariaDB/MySQL, so a service in New York and one in
 * UTC would disagree by hours about the same row. `withNaiveUtc` adds the driver settings that fix this.
 * On SQLite TypeORM writes UTC text already, but with a 3-digit fraction that SQLAlchemy (Flask-Security)
 * reads as microseconds, and it reads Flask-Security's 6-digit fractions as local time; `withNaiveUtc` makes
 * that DataSource write and read Flask-Security's `YYYY-MM-DD HH:MM:SS.ffffff`.
 */
import type { DataSourceOptions } from "typeorm";

/** Marks a driver module `withNaiveUtc` wrapped (`Symbol.for`, so two copies of the package agree). */
const WRAPPED_DRIVER = Symbol.for("typeorm-security-models.naiveUtc");

/** PostgreSQL's type id for `timestamp without time zone`. */
const PG_TIMESTAMP_OID = 1114;
const NAIVE_TIMESTAMP = /^(\d{4,})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?$/;

/** Reads a naive PostgreSQL timestamp as UTC; anything else (infinity, BC) goes to pg's own parser. */
function parseNaiveUtc(text: string, fallback: (text: string) => unknown): unknown {
  const m = NAIVE_TIMESTAMP.exec(text);
  if (!m) return fallback(text);
  const millis = m[7] ? Number(m[7].padEnd(6, "0").slice(0, 3)) : 0;
  const date = new Date(Date.UTC(0, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), millis));
  date.setUTCFullYear(Number(m[1])); // Date.UTC maps years 0-99 to 1900-1999
  return date;
}

type AnyOptions = Record<string | symbol, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function postgresOptions(options: AnyOptions): AnyOptions {
  const pg = options.driver ?? require("pg");
  // Dates bound to queries are sent as UTC. pg only offers this process-wide; it keeps the instant for
  // `timestamptz` columns too, so only zone-less columns change, from local to UTC wall clock.
  pg.defaults.parseInputDatesAsUTC = true;
  const extra = options.extra ?? {};
  const baseTypes = extra.types ?? pg.types;
  // now() / CURRENT_TIMESTAMP defaults (create_datetime, update_datetime) are UTC wall clock: every new
  // connection of the pool sets its session's TimeZone, queued before any other statement on it. A SET, not
  // the startup packet's `options`, because PgBouncer refuses `options` and, in transaction pooling, hands each
  // transaction whichever server connection is free: it tracks TimeZone per client and sets it again there.
  const driver = Object.create(pg);
  driver[WRAPPED_DRIVER] = true;
  driver.Pool = class extends pg.Pool {
    constructor(config: unknown) {
      super(config);
      this.on("connect", (client: { query(sql: string): Promise<unknown>; end(): Promise<void> }) => {
        // A connection whose zone could not be set would write local times: end it, so its first use fails.
        client.query("SET TIME ZONE 'UTC'").catch(() => client.end().catch(() => undefined));
      });
    }
  };
  return {
    ...options,
    driver,
    extra: {
      ...extra,
      // Zone-less timestamps read back as UTC, for this DataSource's pool only.
      types: {
        getTypeParser(oid: number, format?: string) {
          const parser = baseTypes.getTypeParser(oid, format);
          if (oid !== PG_TIMESTAMP_OID || (format && format !== "text")) return parser;
          return (text: string) => parseNaiveUtc(text, parser);
        },
      },
    },
  };
}

/** Marks SQLite DataSource options whose driver writes and reads datetimes the way Flask-Security does. */
const SQLITE_NAIVE_UTC = Symbol.for("typeorm-security-models.sqliteNaiveUtc");

type SqliteDriverPrototype = Record<string | symbol, any> & { options?: AnyOptions }; // eslint-disable-line @typescript-eslint/no-explicit-any
type ColumnLike = { type?: unknown } | undefined;

const isDatetime = (column: ColumnLike) => column?.type === Date || column?.type === "datetime";
/** TypeORM's SQLite text for a Date: UTC wall clock with milliseconds. */
const TYPEORM_SQLITE_DATETIME = /^\d{4,}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/;

/** `2024-01-02 03:04:05.123456` (naive UTC, any fraction up to 6 digits) as `2024-01-02T03:04:05.123Z`. */
function naiveToIso(text: string): string | undefined {
  const m = NAIVE_TIMESTAMP.exec(text);
  if (!m) return undefined;
  const fraction = (m[7] ?? "").padEnd(6, "0").slice(0, 3);
  return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${fraction}Z`;
}

/** TypeORM's SQLite text (`2024-01-02 03:04:05.123`) widened to SQLAlchemy's 6-digit fraction. */
const widenFraction = (text: unknown) => (typeof text === "string" && TYPEORM_SQLITE_DATETIME.test(text) ? `${text}000` : text);

/**
 * Teaches TypeORM's SQLite drivers, for DataSources marked by `withNaiveUtc` only, Flask-Security's datetime
 * text: Dates are written with 6 fraction digits (SQLAlchemy 1.4 takes the digits as microseconds, so
 * `.123` would read as 123 µs), and naive text with any fraction is read as UTC (TypeORM reads a 6-digit
 * fraction as the process's local time). Values already stored with 3 digits still read as milliseconds.
 * TypeORM offers no per-DataSource hook for value formats, so the driver class's methods are wrapped once and
 * look at the mark; unmarked DataSources behave exactly as before.
 */
function installSqliteDatetimes(): void {
  const { AbstractSqliteDriver } = require("typeorm/driver/sqlite-abstract/AbstractSqliteDriver");
  const { DateUtils } = require("typeorm/util/DateUtils");
  const proto: SqliteDriverPrototype = AbstractSqliteDriver.prototype;
  if (proto[SQLITE_NAIVE_UTC]) return;
  const persist = proto.preparePersistentValue;
  const hydrate = proto.prepareHydratedValue;
  const escapeQuery = proto.escapeQueryWithParameters;
  const marked = (driver: SqliteDriverPrototype) => driver.options?.[SQLITE_NAIVE_UTC] === true;
  proto.preparePersistentValue = function (this: SqliteDriverPrototype, value: unknown, column: ColumnLike) {
    const result = persist.call(this, value, column);
    return marked(this) && isDatetime(column) ? widenFraction(result) : result;
  };
  proto.prepareHydratedValue = function (this: SqliteDriverPrototype, value: unknown, column: ColumnLike) {
    const iso = marked(this) && isDatetime(column) && typeof value === "string" ? naiveToIso(value) : undefined;
    return hydrate.call(this, iso ?? value, column);
  };
  // Query-builder parameters (a Date in a WHERE) are compared with the stored text, so they get the same form.
  proto.escapeQueryWithParameters = function (
    this: SqliteDriverPrototype,
    sql: string,
    parameters: Record<string, unknown>,
    native: unknown,
  ) {
    if (!marked(this) || !parameters) return escapeQuery.call(this, sql, parameters, native);
    const widen = (v: unknown): unknown =>
      v instanceof Date ? widenFraction(DateUtils.mixedDateToUtcDatetimeString(v)) : Array.isArray(v) ? v.map(widen) : v;
    const widened = Object.fromEntries(Object.entries(parameters).map(([key, v]) => [key, widen(v)]));
    return escapeQuery.call(this, sql, widened, native);
  };
  proto[SQLITE_NAIVE_UTC] = true;
}

function sqliteOptions(options: AnyOptions): AnyOptions {
  installSqliteDatetimes();
  return { ...options, [SQLITE_NAIVE_UTC]: true };
}

function mysqlOptions(options: AnyOptions): AnyOptions {
  const mysql = options.driver ?? require("mysql2");
  // mysql2 has no per-connection start-up statement, so wrap its pool: every new connection first sets
  // its session to UTC, which is what NOW() / CURRENT_TIMESTAMP defaults and ON UPDATE then use.
  const driver = Object.create(mysql);
  driver.createPool = (config: unknown) => {
    const pool = mysql.createPool(config);
    pool.on("connection", (connection: { query: (sql: string) => void }) => connection.query("SET time_zone = '+00:00'"));
    return pool;
  };
  return { ...options, timezone: "Z", driver, connectorPackage: "mysql2" };
}

/**
 * Returns `options` with what the driver needs to store and read zone-less datetimes as UTC: the same
 * instant whatever `TZ` the process runs in, and what Flask-Security reads. Wrap every DataSource's
 * options in it: `new DataSource(withNaiveUtc({ type: "postgres", ... }))`.
 *
 * - PostgreSQL: sessions in UTC (`SET TIME ZONE` on each new connection, which PgBouncer's transaction
 *   pooling keeps), zone-less timestamps parsed as UTC (this pool only), and pg's process-wide
 *   `defaults.parseInputDatesAsUTC = true`.
 * - MariaDB / MySQL: `timezone: "Z"` and every pooled session in UTC.
 * - SQLite (better-sqlite3): datetimes written as `YYYY-MM-DD HH:MM:SS.ffffff` (6 digits, what SQLAlchemy
 *   reads correctly) and naive text read as UTC whatever its fraction; TypeORM already writes UTC there.
 */
export function withNaiveUtc<T extends DataSourceOptions>(options: T): T {
  switch (options.type) {
    case "postgres":
      return postgresOptions(options) as T;
    case "mysql":
    case "mariadb":
      return mysqlOptions(options) as T;
    case "better-sqlite3":
      return sqliteOptions(options) as T;
    default:
      return options;
  }
}
