/**
 * Throw-away databases: each test file gets its own database (PostgreSQL, MariaDB) or file (SQLite), with a
 * random name, dropped afterwards, so suites run side by side and a failed run leaves nothing behind.
 */
import { randomBytes } from "crypto";
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { Client } from "pg";
import { createConnection } from "mysql2/promise";
import { DataSource, DataSourceOptions } from "typeorm";
import { withNaiveUtc } from "../../src";
import { RecordingLogger } from "./recording-logger";
import { DATABASE_KINDS, DatabaseKind, MYSQL_URL, PG_URL, skipReason } from "./servers";

type EntityList = NonNullable<DataSourceOptions["entities"]>;
type ExtraOptions = Partial<
  Pick<DataSourceOptions, "synchronize" | "migrations" | "migrationsRun" | "logging" | "logger" | "poolSize" | "dropSchema">
>;

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/**
 * DataSource options for the database `name` on `kind`'s server (for SQLite: the file `name`), with the
 * package's naive-UTC settings applied. Unless `extra` brings its own, the logger records instead of printing.
 */
export function databaseOptions(kind: DatabaseKind, name: string, entities: EntityList, extra: ExtraOptions = {}): DataSourceOptions {
  return withNaiveUtc(plainDatabaseOptions(kind, name, entities, extra));
}

/** The same options as an app would write them without `withNaiveUtc`. */
export function plainDatabaseOptions(kind: DatabaseKind, name: string, entities: EntityList, extra: ExtraOptions = {}): DataSourceOptions {
  const common = { entities, logger: new RecordingLogger(), ...extra };
  switch (kind) {
    case "sqlite": {
      const { poolSize: _single, ...sqlite } = common; // one connection: SQLite has no pool
      return { type: "better-sqlite3", database: name, ...sqlite };
    }
    case "postgres":
      return { type: "postgres", url: withDatabase(PG_URL, name), ...common };
    case "mariadb":
      return { type: "mariadb", url: withDatabase(MYSQL_URL, name), ...common };
  }
}

export class TestDatabase {
  private readonly opened: DataSource[] = [];
  private sqliteDir?: string;
  readonly name = `tsm_${process.pid}_${randomBytes(4).toString("hex")}`;
  /** What TypeORM logged on every DataSource of this database that brought no logger of its own. */
  readonly log = new RecordingLogger();

  constructor(readonly kind: DatabaseKind) {}

  async create(): Promise<void> {
    if (this.kind === "sqlite") {
      this.sqliteDir = mkdtempSync(join(tmpdir(), "tsm-"));
    } else if (this.kind === "postgres") {
      await withPg((c) => c.query(`CREATE DATABASE ${this.name}`));
    } else {
      await withMysql((c) => c.query(`CREATE DATABASE ${this.name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`));
    }
  }

  /** DataSource options for this database, with the package's naive-UTC settings applied. */
  options(entities: EntityList, extra: ExtraOptions = {}): DataSourceOptions {
    return withNaiveUtc(this.plainOptions(entities, extra));
  }

  /** DataSource options for this database as an app would write them without `withNaiveUtc`. */
  plainOptions(entities: EntityList, extra: ExtraOptions = {}): DataSourceOptions {
    const file = this.kind === "sqlite" ? join(this.sqliteDir!, "test.db") : this.name;
    return plainDatabaseOptions(this.kind, file, entities, { logger: this.log, ...extra });
  }

  /** Opens (and later closes) a DataSource on this database. */
  async dataSource(entities: EntityList, extra: ExtraOptions = {}): Promise<DataSource> {
    const ds = new DataSource(this.options(entities, extra));
    await ds.initialize();
    this.opened.push(ds);
    return ds;
  }

  async drop(): Promise<void> {
    await Promise.all(this.opened.filter((ds) => ds.isInitialized).map((ds) => ds.destroy()));
    if (this.kind === "sqlite") {
      if (this.sqliteDir) rmSync(this.sqliteDir, { recursive: true, force: true });
    } else if (this.kind === "postgres") {
      await withPg((c) => c.query(`DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`));
    } else {
      await withMysql((c) => c.query(`DROP DATABASE IF EXISTS ${this.name}`));
    }
  }
}

export async function withPg<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function withMysql<T>(fn: (c: Awaited<ReturnType<typeof createConnection>>) => Promise<T>): Promise<T> {
  const connection = await createConnection({ uri: MYSQL_URL });
  try {
    return await fn(connection);
  } finally {
    await connection.end();
  }
}

/**
 * Registers the body once per database kind, inside `describe("<title> [<kind>]")`; a kind whose server
 * the global setup found unreachable is skipped, and its title says why.
 */
export function describeEachDatabase(title: string, body: (db: TestDatabase) => void): void {
  for (const kind of DATABASE_KINDS) describeOnDatabase(kind, title, body);
}

/** Registers the body for one database kind, as `describeEachDatabase` does for each. */
export function describeOnDatabase(kind: DatabaseKind, title: string, body: (db: TestDatabase) => void): void {
  const reason = skipReason(kind);
  const describeOrSkip = reason ? describe.skip : describe;
  describeOrSkip(reason ? `${title} [${kind}] SKIPPED: ${reason}` : `${title} [${kind}]`, () => {
    const db = new TestDatabase(kind);
    beforeAll(() => db.create());
    afterAll(() => db.drop());
    body(db);
  });
}
