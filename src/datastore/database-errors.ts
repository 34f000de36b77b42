/**
 * What the datastore does when the database refuses a statement: retry what is safe to retry (deadlocks,
 * serialization failures, a busy SQLite file), and turn every other failure into an error that is safe to log.
 *
 * Why: TypeORM's QueryFailedError keeps the statement's `parameters` (on a user's insert: the password hash,
 * the uniquifiers, the TOTP secrets) and the driver's error, whose message quotes the offending value on
 * MariaDB/MySQL (`Duplicate entry '<uniquifier>' for key …`) and whose `detail` does on PostgreSQL
 * (`Key (fs_uniquifier)=(<uniquifier>) already exists.`). An app that logs such an error logs the secret.
 */
import type { DataSource, EntityMetadata, EntityTarget, Logger, ObjectLiteral } from "typeorm";
import { DuplicateValueError, SecurityModelError } from "../errors";
import { EMAIL_CASE_INSENSITIVE_INDEX } from "../user/v3";

/**
 * A statement of a datastore operation failed in the database (or kept deadlocking after retries). Safe to
 * log: it keeps the SQL (placeholders only) and the driver's code, never the statement's values, and its
 * message has every quoted value removed.
 */
export class DatabaseOperationError extends SecurityModelError {
  /** The driver's error code (`40P01`, `ER_LOCK_DEADLOCK`, `SQLITE_BUSY`, …), when it gave one. */
  readonly code: string | undefined;
  /** The SQL that failed, with placeholders and without its values, when known. */
  readonly query: string | undefined;
  /** True when the database gave up on a conflict with concurrent work (deadlock, lock timeout, busy). */
  readonly retryable: boolean;

  constructor(
    entity: string,
    field: string,
    rule: string,
    message: string,
    details: { code?: string; query?: string; retryable: boolean },
  ) {
    super(entity, field, rule, message);
    this.code = details.code;
    this.query = details.query;
    this.retryable = details.retryable;
  }
}

/** The fields of a driver error this module reads. */
interface DriverFailure {
  code?: string | number;
  errno?: number;
  message?: string;
  query?: string;
  parameters?: unknown[];
  constraint?: string;
  driverError?: DriverFailure;
}

const failureOf = (error: unknown): DriverFailure => (typeof error === "object" && error !== null ? error : {});

/** The driver's code of `error` (SQLSTATE on PostgreSQL, `ER_…` on MariaDB/MySQL, `SQLITE_…`). */
function codeOf(error: unknown): string | undefined {
  const e = failureOf(error);
  const code = e.driverError?.code ?? e.code;
  return code === undefined ? undefined : String(code);
}

function errnoOf(error: unknown): number | undefined {
  const e = failureOf(error);
  return e.driverError?.errno ?? e.errno;
}

/** Failures the database reports for two transactions in each other's way; retrying the whole operation fixes them. */
const RETRYABLE_CODES = new Set(["40P01", "40001", "55P03", "ER_LOCK_DEADLOCK", "ER_LOCK_WAIT_TIMEOUT", "SQLITE_BUSY", "SQLITE_LOCKED"]);
const RETRYABLE_ERRNOS = new Set([1213, 1205]);

/** Whether `error` is a deadlock, serialization failure, lock timeout or busy database. */
export function isRetryable(error: unknown): boolean {
  const code = codeOf(error);
  const errno = errnoOf(error);
  return (
    (code !== undefined && (RETRYABLE_CODES.has(code) || code.startsWith("SQLITE_BUSY"))) ||
    (errno !== undefined && RETRYABLE_ERRNOS.has(errno))
  );
}

/** Whether `error` is a unique-index violation. */
export function isDuplicateKey(error: unknown): boolean {
  const code = codeOf(error);
  return (
    code === "23505" ||
    errnoOf(error) === 1062 ||
    code === "ER_DUP_ENTRY" ||
    code === "SQLITE_CONSTRAINT_UNIQUE" ||
    code === "SQLITE_CONSTRAINT_PRIMARYKEY"
  );
}

/**
 * How many times an operation is tried when the database reports a conflict with concurrent work, and the
 * longest pause between two tries. Sized for MariaDB Galera, where every node takes writes and two nodes
 * writing one row at once are settled at commit: the later one fails as a deadlock, and under a burst on
 * one hot row (300 sign-ins of one user spread over 3 nodes) an operation may lose several rounds in a row.
 * The pauses are random up to a bound that doubles each try (10 ms, 20 ms, … capped), so the losers of a
 * round do not collide again in step; a single server's rare deadlock is retried within milliseconds.
 */
const ATTEMPTS = 12;
const LONGEST_PAUSE_MS = 500;

/**
 * Runs `operation` (a whole transaction or one statement, so a failed try has changed nothing) and runs it
 * again after a short random pause when the database reports a deadlock, serialization failure, lock timeout
 * or busy file. Errors of this package pass through; every other database error becomes safe to log.
 */
export async function retryingConflicts<T>(dataSource: DataSource, entity: EntityMetadata, operation: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof SecurityModelError) throw error;
      if (isRetryable(error) && attempt < ATTEMPTS) {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(LONGEST_PAUSE_MS, 5 * 2 ** attempt)));
        continue;
      }
      throw safeDatabaseError(dataSource, entity, error, attempt);
    }
  }
}

/**
 * `error` (from a statement on `entity`'s table) as an error that is safe to log: a unique violation becomes
 * a DuplicateValueError naming the field; anything else a DatabaseOperationError without the values.
 */
export function safeDatabaseError(
  dataSource: DataSource,
  entity: EntityMetadata | undefined,
  error: unknown,
  attempts = 1,
): SecurityModelError {
  const name = entity ? entity.targetName || entity.name : "(database)";
  const e = failureOf(error);
  if (isDuplicateKey(error)) {
    const field = uniqueField(dataSource, entity, error);
    return new DuplicateValueError(
      name,
      field ?? "(unique index)",
      "duplicate",
      `another ${name.toLowerCase()} already has this ${field ?? "value"}`,
    );
  }
  const code = codeOf(error);
  const retryable = isRetryable(error);
  const what = retryable
    ? `the database kept refusing this operation because of concurrent work (${attempts} tries); try again later`
    : `the database refused the statement: ${redactedMessage(dataSource, e)}`;
  return new DatabaseOperationError(name, "(database)", retryable ? "conflict" : "database-error", `${what}${code ? ` [${code}]` : ""}`, {
    code,
    query: typeof e.query === "string" ? e.query : undefined,
    retryable,
  });
}

/** The property whose unique index `error` reports, found from the index or column name the driver gives. */
export function uniqueField(dataSource: DataSource, entity: EntityMetadata | undefined, error: unknown): string | undefined {
  if (!entity) return undefined;
  const e = failureOf(error);
  const text = `${e.driverError?.constraint ?? e.constraint ?? ""} ${e.driverError?.message ?? e.message ?? ""}`;
  for (const index of entity.indices) {
    if (!index.name || !text.includes(index.name)) continue;
    // V3's case-insensitive email index is on an expression TypeORM cannot declare, so it lists no columns.
    return index.name === EMAIL_CASE_INSENSITIVE_INDEX ? "email" : index.columns[0]?.propertyName;
  }
  // The primary key: PostgreSQL names its constraint, MariaDB/MySQL say "for key 'PRIMARY'".
  const primary = entity.primaryColumns[0];
  const primaryKeyName = dataSource.namingStrategy.primaryKeyName(
    entity.tablePath,
    entity.primaryColumns.map((c) => c.databaseName),
  );
  if (primary && (text.includes(primaryKeyName) || /for key '(?:[^']*\.)?PRIMARY'/.test(text))) return primary.propertyName;
  // SQLite names the column: "UNIQUE constraint failed: user.email".
  const sqlite = /constraint failed: [^.\s]+\.(\w+)/.exec(text);
  return sqlite ? entity.columns.find((c) => c.databaseName === sqlite[1])?.propertyName : undefined;
}

/**
 * The driver's message without any value: quoted literals are cut out unless they are names this DataSource
 * knows (tables, columns, indexes), and so is every string parameter of the statement wherever it appears.
 */
function redactedMessage(dataSource: DataSource | undefined, e: DriverFailure): string {
  const known = new Set<string>();
  for (const metadata of dataSource?.entityMetadatas ?? []) {
    known.add(metadata.tableName);
    for (const column of metadata.columns) known.add(column.databaseName);
    for (const index of metadata.indices) if (index.name) known.add(index.name);
  }
  let message = String(e.driverError?.message ?? e.message ?? "unknown error");
  for (const parameter of e.parameters ?? e.driverError?.parameters ?? []) {
    if (typeof parameter === "string" && parameter.length >= 4) message = message.split(parameter).join("…");
  }
  return message.replace(/'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"/g, (quoted, single?: string, double?: string) => {
    const inner = single ?? double ?? "";
    const name = inner.split(".").pop() ?? "";
    return known.has(inner) || known.has(name) ? quoted : "…";
  });
}

/**
 * An error from the app's own TypeORM call (say `repository.save(user)`) without the statement's values, for
 * logging or returning: TypeORM's QueryFailedError carries them in `parameters`, `driverError` and, on
 * MariaDB/MySQL, its message. A unique violation becomes a DuplicateValueError naming the field (pass the
 * entity); anything else a DatabaseOperationError.
 */
export function redactQueryError(dataSource: DataSource, error: unknown, entity?: EntityTarget<ObjectLiteral>): SecurityModelError {
  if (error instanceof SecurityModelError) return error;
  return safeDatabaseError(dataSource, entity ? dataSource.getMetadata(entity) : undefined, error);
}

/**
 * The app's TypeORM logger, handed no statement values: queries are logged with placeholders only, and a
 * failed query's error as its message with every value removed. TypeORM gives a logger the parameters of
 * every query (a user's insert: the password hash and uniquifiers), so wrap whatever logger the app uses:
 * `new DataSource({ …, logging: ["error"], logger: secretSafeLogger(new AdvancedConsoleLogger(["error"])) })`.
 */
export function secretSafeLogger(inner: Logger): Logger {
  return {
    logQuery: (query, _parameters, queryRunner) => inner.logQuery(query, undefined, queryRunner),
    logQueryError: (error, query, parameters, queryRunner) => {
      const failure = typeof error === "string" ? { message: error } : failureOf(error);
      const code = codeOf(error);
      const message = redactedMessage(queryRunner?.connection, {
        ...failure,
        parameters: Array.isArray(parameters) ? parameters : Object.values(parameters ?? {}),
      });
      return inner.logQueryError(code ? `${message} [${code}]` : message, query, undefined, queryRunner);
    },
    logQuerySlow: (time, query, _parameters, queryRunner) => inner.logQuerySlow(time, query, undefined, queryRunner),
    logSchemaBuild: (message, queryRunner) => inner.logSchemaBuild(message, queryRunner),
    logMigration: (message, queryRunner) => inner.logMigration(message, queryRunner),
    log: (level, message, queryRunner) => inner.log(level, message, queryRunner),
  };
}
