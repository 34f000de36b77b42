/**
 * A TypeORM logger for tests that writes nothing and keeps what it was given. TypeORM logs a failed migration
 * to the console whatever `logging` says, so the refusal tests would bury a passing run's summary under
 * expected failures; with this logger they assert those lines instead.
 */
import type { Logger } from "typeorm";

/** One line TypeORM logged: its kind (the Logger method it came through) and its text. */
export interface LoggedLine {
  kind: "query-error" | "query-slow" | "schema-build" | "migration" | "log" | "info" | "warn";
  message: string;
}

export class RecordingLogger implements Logger {
  readonly lines: LoggedLine[] = [];

  /** The texts of the lines of one kind, oldest first; forgets every line, so the next call sees only newer ones. */
  take(kind: LoggedLine["kind"]): string[] {
    const texts = this.lines.filter((line) => line.kind === kind).map((line) => line.message);
    this.lines.length = 0;
    return texts;
  }

  // Successful queries are not kept: a migration test runs thousands, and no test asserts on them here.
  logQuery(): void {}

  logQueryError(error: string | Error, query: string): void {
    this.lines.push({ kind: "query-error", message: `${error instanceof Error ? error.message : error} (${query})` });
  }

  logQuerySlow(time: number, query: string): void {
    this.lines.push({ kind: "query-slow", message: `${time} ms: ${query}` });
  }

  logSchemaBuild(message: string): void {
    this.lines.push({ kind: "schema-build", message });
  }

  logMigration(message: string): void {
    this.lines.push({ kind: "migration", message });
  }

  log(level: "log" | "info" | "warn", message: unknown): void {
    this.lines.push({ kind: level, message: String(message) });
  }
}
