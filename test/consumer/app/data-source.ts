/** The DataSource file the TypeORM CLI and `typeorm-security-models status` load (compiled to .js). */
import "reflect-metadata";
import { DataSource } from "typeorm";
import { withNaiveUtc } from "typeorm-security-models";
import { securityMigrationsV3 } from "typeorm-security-models/migrations";
import { Role, User, WebAuthn } from "./entities.js";
import { AddUserName1800000000000 } from "./migrations/1800000000000-AddUserName.js";

export default new DataSource(
  withNaiveUtc({
    type: "better-sqlite3",
    database: "cli.db",
    entities: [User, Role, WebAuthn],
    migrations: [...securityMigrationsV3, AddUserName1800000000000],
  }),
);
