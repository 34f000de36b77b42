/**
 * The TypeORM options of the app: the shipped migrations run at start-up (`migrationsRun`), never
 * `synchronize`. An SQLite file by default (DATABASE_PATH, else nest-example.sqlite); DATABASE_URL=postgres://…
 * switches to PostgreSQL.
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
  if (env.DATABASE_URL) return withNaiveUtc({ type: "postgres", url: env.DATABASE_URL, ...common });
  return withNaiveUtc({ type: "better-sqlite3", database: env.DATABASE_PATH ?? "nest-example.sqlite", ...common });
}
