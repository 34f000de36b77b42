/**
 * Naive UTC datetimes on every database, whatever the process's time zone.
 *
 * Flask-Security stores datetimes without a zone and means UTC. TypeORM stores a JS Date in a zone-less
 * column as the process-local wall clock on PostgreSQL and MariaDB/MySQL, so a service in New York and one in
 * UTC would disagree by hours about the same row. `withNaiveUtc` adds the driver settings that fix this;
 * SQLite needs none (TypeORM already writes UTC text there).
 */
import type { DataSourceOptions } from "typeorm";

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

type AnyOptions = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function postgresOptions(options: AnyOptions): AnyOptions {
  const pg = options.driver ?? require("pg");
  // Dates bound to queries are sent as UTC. pg only offers this process-wide; it keeps the instant for
  // `timestamptz` columns too, so only zone-less columns change, from local to UTC wall clock.
  pg.defaults.parseInputDatesAsUTC = true;
  const extra = options.extra ?? {};
  const baseTypes = extra.types ?? pg.types;
  return {
    ...options,
    extra: {
      ...extra,
      // now() / CURRENT_TIMESTAMP defaults (create_datetime, update_datetime) are UTC wall clock.
      options: [extra.options, "-c TimeZone=UTC"].filter(Boolean).join(" "),
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
 * - PostgreSQL: sessions in UTC, zone-less timestamps parsed as UTC (this pool only), and pg's
 *   process-wide `defaults.parseInputDatesAsUTC = true`.
 * - MariaDB / MySQL: `timezone: "Z"` and every pooled session in UTC.
 * - SQLite: unchanged; TypeORM already writes UTC.
 */
export function withNaiveUtc<T extends DataSourceOptions>(options: T): T {
  switch (options.type) {
    case "postgres":
      return postgresOptions(options) as T;
    case "mysql":
    case "mariadb":
      return mysqlOptions(options) as T;
    default:
      return options;
  }
}
