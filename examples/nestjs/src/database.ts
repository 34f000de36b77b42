/**
 * The TypeORM options of the app: the shipped migrations run at start-up (`migrationsRun`), never
 * `synchronize`. An SQLite file by default (DATABASE_PATH, else nest-example.sqlite); DATABASE_URL=postgres://…
 * switches to PostgreSQL.
 */
import type { TypeOrmModuleOptions } from "@nestjs/typeorm";
import { withNaiveUtc } from "typeorm-security-models";
import { securityMigrationsV3 } from "typeorm-security-models/migrations";
import { Role, User, WebAuthn } from "./entities";

export function databaseOptions(env: NodeJS.ProcessEnv = process.env): TypeOrmModuleOptions {
  const common = {
    entities: [User, Role, WebAuthn],
    migrations: securityMigrationsV3,
    migrationsRun: true,
    migrationsTransactionMode: "all" as const,
  };
  if (env.DATABASE_URL) return withNaiveUtc({ type: "postgres", url: env.DATABASE_URL, ...common });
  return withNaiveUtc({ type: "better-sqlite3", database: env.DATABASE_PATH ?? "nest-example.sqlite", ...common });
}
