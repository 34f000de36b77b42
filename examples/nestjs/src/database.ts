/**
 * The TypeORM options of the app: the shipped migrations run at start-up (`migrationsRun`), never
 * `synchronize`. An SQLite file by default (DATABASE_PATH, else nest-example.sqlite); DATABASE_URL=postgres://…
 * switches to PostgreSQL, mysql://… or mariadb://… to MariaDB or MySQL.
 */
import type { TypeOrmModuleOptions } from "@nestjs/typeorm";
import { withNaiveUtc } from "typeorm-security-models";
import { securityMigrations } from "typeorm-security-models/migrations";
import { FsRefreshTracker, Role, User, WebAuthn } from "./entities";

export function databaseOptions(env: NodeJS.ProcessEnv = process.env): TypeOrmModuleOptions {
  const common = {
    entities: [User, Role, WebAuthn, FsRefreshTracker],
    migrations: securityMigrations,
    migrationsRun: true,
    migrationsTransactionMode: "all" as const,
  };
  const url = env.DATABASE_URL;
  if (url?.startsWith("postgres")) return withNaiveUtc({ type: "postgres", url, ...common });
  if (url?.startsWith("mysql") || url?.startsWith("mariadb"))
    return withNaiveUtc({ type: "mariadb", url: url.replace(/^mariadb:/, "mysql:"), ...common });
  if (url) throw new Error(`DATABASE_URL: use postgres://, mysql:// or mariadb://, or unset it for SQLite (got ${url.split(":", 1)[0]}:)`);
  return withNaiveUtc({ type: "better-sqlite3", database: env.DATABASE_PATH ?? "nest-example.sqlite", ...common });
}
