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
import type { DataSource, DataSourceOptions } from "typeorm";
import { extendDriver } from "./database/driver-extensions";
import type { DriverPrototype } from "./database/driver-extensions";
import { SecurityModelError } from "./errors";

/**
 * Marks what `withNaiveUtc` made (the options, a driver module it wrapped, PostgreSQL's type parsers), so a
 * check can tell options it never saw from options that lost one of its settings afterwards
 * (`{ ...withNaiveUtc(options), extra: { max: 5 } }`). `Symbol.for`, so two copies of the package agree;
 * symbol keys survive spreads and `Object.assign`.
 */
const NAIVE_UTC = Symbol.for("typeorm-security-models.naiveUtc");

/** PostgreSQL's type id for `timestamp without time zone`. */
const PG_TIMESTAMP_OID = 1114;
const NAIVE_TIMESTAMP = /^(\d{4,})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?$/;

/** Reads a naive PostgreSQL timestamp as UTC; anything else (infinity, BC) goes to pg's own parser. */
function parseNaiveUtc(text: string, fallback: (text: string) => unknown): unknown {
  const m = NAIVE_TIMESTAMP.exec(text);
  if (!m) return fallback(text);
  const millis = m[7] ? Number(m[7].padEnd(6, "0").slice(0, 3)) : 0;
  // Year, month and day in one call: Date.UTC maps years 0-99 to 1900-1999, and a day set in another year
  // first would roll 29 February over to 1 March when that year is not a leap year.
  const date = new Date(0);
  date.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  date.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), millis);
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
  driver[NAIVE_UTC] = true;
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
        [NAIVE_UTC]: true,
      },
    },
  };
}

/** Marks SQLite DataSource options whose driver writes and reads datetimes the way Flask-Security does. */
const SQLITE_NAIVE_UTC = Symbol.for("typeorm-security-models.sqliteNaiveUtc");

type SqliteDriverPrototype = DriverPrototype & { options?: AnyOptions };
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
 * TypeORM offers no per-DataSource hook for value formats, so the driver class's methods are wrapped once
 * (`src/database/driver-extensions.ts`), at the first `withNaiveUtc` of a SQLite DataSource, and look at the
 * mark; unmarked DataSources behave exactly as before.
 */
function installSqliteDatetimes(): void {
  extendDriver("sqlite", "naive-utc-datetimes", teachSqliteDatetimes);
}

function teachSqliteDatetimes(proto: SqliteDriverPrototype): void {
  const { DateUtils } = require("typeorm/util/DateUtils");
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
  driver[NAIVE_UTC] = true;
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
  const marked = (wrapped: AnyOptions): T => ({ ...wrapped, [NAIVE_UTC]: true }) as AnyOptions as T;
  switch (options.type) {
    case "postgres":
      return marked(postgresOptions(options));
    case "mysql":
    case "mariadb":
      return marked(mysqlOptions(options));
    case "better-sqlite3":
      return marked(sqliteOptions(options));
    default:
      return options;
  }
}

/**
 * A DataSource whose options did not go through `withNaiveUtc`, or lost one of its settings afterwards: its
 * datetimes would silently be the process's local wall clock (PostgreSQL, MariaDB/MySQL) or text that
 * Flask-Security misreads (SQLite). The message says what to write.
 */
export class NaiveUtcRequiredError extends SecurityModelError {}

/** The settings of `withNaiveUtc` that `options` no longer has, for the types it configures; `[]` when all are there. */
function lostSettings(dataSource: DataSource): string[] {
  const options = dataSource.options as AnyOptions;
  switch (options.type) {
    case "postgres": {
      const pg = (dataSource.driver as unknown as { postgres?: AnyOptions }).postgres;
      return [
        options.extra?.types?.[NAIVE_UTC] === true ? "" : "extra.types (reads zone-less timestamps as UTC)",
        options.driver?.[NAIVE_UTC] === true ? "" : "driver (puts every pooled session in UTC)",
        pg?.defaults?.parseInputDatesAsUTC === true
          ? ""
          : "pg.defaults.parseInputDatesAsUTC = true on the pg module TypeORM uses (sends Dates as UTC; pass that module as `driver` if the app has two copies of pg)",
      ].filter(Boolean);
    }
    case "mysql":
    case "mariadb":
      return [
        options.timezone === "Z" ? "" : `timezone: "Z"`,
        options.driver?.[NAIVE_UTC] === true ? "" : "driver (puts every pooled session in UTC)",
      ].filter(Boolean);
    case "better-sqlite3":
      return options[SQLITE_NAIVE_UTC] === true ? [] : ["the mark that makes the driver write and read Flask-Security's datetime text"];
    default:
      return [];
  }
}

/** What goes wrong without the wrapper, per database family. */
function whatGoesWrong(type: string): string {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return type === "better-sqlite3"
    ? "TypeORM would write datetimes with a 3-digit fraction, which Flask-Security (SQLAlchemy) reads as microseconds, and read its 6-digit text as this process's local time"
    : `TypeORM would store and read every datetime as this process's local wall clock (${zone}) while Flask-Security and this package mean UTC, silently shifting each by the zone's offset`;
}

/**
 * Refuses a DataSource whose options lack what `withNaiveUtc` sets, before `user` (a migration, the
 * datastore, the status) reads or writes a datetime. It looks at the options, not at a live session.
 * @throws NaiveUtcRequiredError naming what is missing and the line to write.
 */
export function requireNaiveUtc(dataSource: DataSource, user: string): void {
  const lost = lostSettings(dataSource);
  if (lost.length === 0) return;
  const type = String(dataSource.options.type);
  const wrapped = (dataSource.options as AnyOptions)[NAIVE_UTC] === true;
  const message = wrapped
    ? `${user} refuses this ${type} DataSource: its options went through withNaiveUtc but then lost ${lost.join("; ")}, so ${whatGoesWrong(type)}. ` +
      `Fix: apply withNaiveUtc last, to the finished options: new DataSource(withNaiveUtc({ ...options, extra: { ... } })), not { ...withNaiveUtc(options), extra: { ... } }.`
    : `${user} refuses this ${type} DataSource: its options did not go through withNaiveUtc, so ${whatGoesWrong(type)}. ` +
      `Fix: import { withNaiveUtc } from "typeorm-security-models" and write new DataSource(withNaiveUtc({ type: "${type}", ... })); ` +
      `in NestJS, TypeOrmModule.forRootAsync({ useFactory: () => withNaiveUtc({ type: "${type}", ... }) }).`;
  throw new NaiveUtcRequiredError("DataSource", "options", wrapped ? "naive-utc-lost" : "naive-utc-missing", message);
}
