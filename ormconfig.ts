/**
 * The DataSource of the demo and of the TypeORM CLI (`npx typeorm-ts-node-commonjs migration:run -d
 * ormconfig.ts`). An SQLite file (`demo.sqlite`) by default; DATABASE_URL switches database:
 * `postgres://user@host:5432/db`, `mysql://root@host:3306/db` or `mariadb://root@host:3306/db`.
 */
import "reflect-metadata";
import { DataSource, DataSourceOptions } from "typeorm";
import { withNaiveUtc } from "./src";
import { Role, User } from "./examples/demo/entities";

const entities = [User, Role];

/** The options for `url` (DATABASE_URL), or for the SQLite demo file when it is unset. */
export function optionsFor(url: string | undefined): DataSourceOptions {
  if (!url) return { type: "better-sqlite3", database: "demo.sqlite", entities };
  const scheme = url.split(":", 1)[0];
  switch (scheme) {
    case "postgres":
    case "postgresql":
      return withNaiveUtc({ type: "postgres", url, entities });
    case "mysql":
      return withNaiveUtc({ type: "mysql", url, entities });
    case "mariadb":
      return withNaiveUtc({ type: "mariadb", url: url.replace(/^mariadb:/, "mysql:"), entities });
    default:
      throw new Error(`DATABASE_URL: unsupported scheme "${scheme}:"; use postgres://, mysql:// or mariadb://, or unset it for the SQLite demo file`);
  }
}

export default new DataSource(optionsFor(process.env.DATABASE_URL));
