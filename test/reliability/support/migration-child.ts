/**
 * The process the fault-injection trials kill. It loads everything first and says `ready`; then it reads one
 * line of JSON from stdin (`MigrationOrder`), opens the database, says `start`, runs the shipped migrations
 * up to the step's target (or reverts the step's migration) as an app would, says `done <ms>` and exits.
 * The parent SIGKILLs it at a random moment after `start`.
 */
import "reflect-metadata";
import { createInterface } from "readline";
import { DataSource } from "typeorm";
import { securityMigrationsV3 } from "../../../migrations";
import * as v1 from "../../fixtures/app-v1";
import * as v3 from "../../fixtures/app-v3";
import { databaseOptions } from "../../support/database";
import type { DatabaseKind } from "../../support/servers";

/** What the parent asks the child to do. */
export interface MigrationOrder {
  kind: DatabaseKind;
  /** Database name (PostgreSQL, MariaDB) or file (SQLite). */
  name: string;
  direction: "up" | "down";
  /** Schema version before the step. */
  from: number;
  /** Schema version after the step. */
  to: number;
}

/**
 * Brings the database from `from` to `to` with TypeORM's runner: up runs the pending shipped migrations up to
 * `to`; down reverts the last one when the step's migration is still recorded. Used by the child for the
 * killed run and by the parent for the rerun, so both do exactly what an app's deployment does.
 */
export async function migrate(ds: DataSource, order: Pick<MigrationOrder, "direction" | "from" | "to">): Promise<void> {
  if (order.direction === "up") {
    await ds.runMigrations({ transaction: "all" });
    return;
  }
  const step = securityMigrationsV3[order.from - 1];
  const recorded: Array<{ name: string }> = await ds.query(`SELECT name FROM migrations`).catch(() => []);
  if (recorded.some((row) => row.name === new step().name)) await ds.undoLastMigration({ transaction: "all" });
}

/**
 * The app's entities by the newest version a step touches: the migrations take the table names from them, and
 * the V3 upgrade also wants a UserMixinV3 entity (with its WebAuthn entity) registered.
 */
const APP_ENTITIES: Record<number, Function[]> = { 1: [v1.User, v1.Role], 2: [v1.User, v1.Role], 3: [v3.User, v3.Role, v3.WebAuthn] };

/** The DataSource of a trial: the app's entities and the shipped migrations up to the step's newer version. */
export function trialDataSource(order: Pick<MigrationOrder, "kind" | "name" | "direction" | "from" | "to">): DataSource {
  const known = Math.max(order.from, order.to);
  return new DataSource(databaseOptions(order.kind, order.name, APP_ENTITIES[known], { migrations: securityMigrationsV3.slice(0, known) }));
}

/**
 * The child's side of the trials: says `ready`, reads one order (a line of JSON), opens the DataSource the
 * order names, says `start`, runs `work`, says `done <ms>` (the time of `work` alone) and exits; on a failure,
 * its stack on stderr and exit code 1. Shared by every killed-process trial.
 */
export function serveOneOrder<T>(dataSource: (order: T) => DataSource, work: (ds: DataSource, order: T) => Promise<void>): void {
  const main = async () => {
    process.stdout.write("ready\n");
    const lines = createInterface({ input: process.stdin });
    const [line] = await new Promise<string[]>((resolve) => lines.once("line", (l) => resolve([l])));
    lines.close();
    const order = JSON.parse(line) as T;
    const ds = dataSource(order);
    await ds.initialize();
    process.stdout.write("start\n");
    const started = process.hrtime.bigint();
    await work(ds, order);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    await ds.destroy();
    process.stdout.write(`done ${ms}\n`);
  };
  main().catch((error) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`);
    process.exit(1);
  });
}

if (require.main === module) serveOneOrder<MigrationOrder>(trialDataSource, migrate);
