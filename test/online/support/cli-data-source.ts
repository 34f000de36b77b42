/**
 * A DataSource file for the `upgrade` command tests: the app at schema version TSM_CLI_VERSION (1, 2 or 3)
 * with its shipped migrations, on the connection in TSM_CLI_CONNECTION (JSON: type and url or database).
 */
import "reflect-metadata";
import { DataSource } from "typeorm";
import type { DataSourceOptions } from "typeorm";
import { withNaiveUtc } from "../../../src";
import { APPS, MIGRATIONS } from "./apps";

const connection = JSON.parse(process.env.TSM_CLI_CONNECTION ?? "{}") as DataSourceOptions;
const version = Number(process.env.TSM_CLI_VERSION ?? 3) as 1 | 2 | 3;

export default new DataSource(withNaiveUtc({ ...connection, entities: [...APPS[version]], migrations: MIGRATIONS[version] }));
