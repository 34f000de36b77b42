/**
 * The DataSource of the demo and of the TypeORM CLI (`npx typeorm-ts-node-commonjs migration:run -d
 * ormconfig.ts`): the demo app's entities, the shipped migrations and the app's own. An SQLite file
 * (`demo.sqlite`) by default; DATABASE_URL switches database: `postgres://user@host:5432/db`,
 * `mysql://root@host:3306/db` or `mariadb://root@host:3306/db`.
 */
import "reflect-metadata";
import { DataSource, DataSourceOptions } from "typeorm";
import { withNaiveUtc } from "./src";
import { securityMigrationsV3 } from "./migrations";
import { Role, User, WebAuthn } from "./examples/demo/entities";
import { AddUserName1800000000000 } from "./examples/demo/migrations/1800000000000-AddUserName";

type Extra = Pick<DataSourceOptions, "entities" | "migrations">;

/** Options for the database at `url` (DATABASE_URL), or for the SQLite demo file when it is unset. */
export function optionsFor(url: string | undefined, extra: Extra): DataSourceOptions {
  if (!url) return withNaiveUtc({ type: "better-sqlite3", database: "demo.sqlite", ...extra });
  const scheme = url.split(":", 1)[0];
  switch (scheme) {
    case "postgres":
    case "postgresql":
      return withNaiveUtc({ type: "postgres", url, ...extra });
    case "mysql":
      return withNaiveUtc({ type: "mysql", url, ...extra });
    case "mariadb":
      return withNaiveUtc({ type: "mariadb", url: url.replace(/^mariadb:/, "mysql:"), ...extra });
    default:
      throw new Error(
        `DATABASE_URL: unsupported scheme "${scheme}:"; use postgres://, mysql:// or mariadb://, or unset it for the SQLite demo file`,
      );
  }
}

export default new DataSource(
  optionsFor(process.env.DATABASE_URL, { entities: [User, Role, WebAuthn], migrations: [...securityMigrationsV3, AddUserName1800000000000] }),
);
