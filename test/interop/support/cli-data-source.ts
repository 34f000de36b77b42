/**
 * A DataSource file for the `adopt` command-line test: the interop app of version TSM_INTEROP_VERSION with
 * the shipped migrations up to it. The connection comes from TSM_CLI_CONNECTION (JSON: type, url or database).
 */
import "reflect-metadata";
import { DataSource } from "typeorm";
import type { DataSourceOptions } from "typeorm";
import { withNaiveUtc } from "../../../src";
import { migrationsUpTo } from "../../../src/versions";
import { VERSIONS } from "./entities";

const connection = JSON.parse(process.env.TSM_CLI_CONNECTION ?? "{}") as DataSourceOptions;
const v = VERSIONS.find((row) => row.version === Number(process.env.TSM_INTEROP_VERSION ?? VERSIONS.length))!;

export default new DataSource(withNaiveUtc({ ...connection, entities: v.entities, migrations: migrationsUpTo(v.version) }));
