/**
 * The process the online-upgrade kill trials SIGKILL. It loads everything first and says `ready`; then it reads
 * one line of JSON from stdin (`UpgradeOrder`), opens the database with the new app version's DataSource,
 * says `start`, runs the whole online upgrade (`complete: true`), says `done <ms>` and exits.
 */
import "reflect-metadata";
import { createInterface } from "readline";
import { DataSource } from "typeorm";
import { upgradeOnline } from "../../../src/online/upgrade";
import { databaseOptions } from "../../support/database";
import type { DatabaseKind } from "../../support/servers";
import { APPS, MIGRATIONS } from "./apps";

/** What the parent asks the child to do. */
export interface UpgradeOrder {
  kind: DatabaseKind;
  /** Database name (PostgreSQL, MariaDB) or file (SQLite). */
  name: string;
  /** The schema version to reach. */
  to: 2 | 3;
  /** Target duration of a backfill batch, ms. */
  batchMs: number;
}

/** The new app version's DataSource on the trial's database. */
export function upgraderDataSource(order: Pick<UpgradeOrder, "kind" | "name" | "to">): DataSource {
  return new DataSource(databaseOptions(order.kind, order.name, [...APPS[order.to]], { migrations: MIGRATIONS[order.to] }));
}

async function main(): Promise<void> {
  process.stdout.write("ready\n");
  const lines = createInterface({ input: process.stdin });
  const line = await new Promise<string>((resolve) => lines.once("line", resolve));
  lines.close();
  const order = JSON.parse(line) as UpgradeOrder;
  const ds = upgraderDataSource(order);
  await ds.initialize();
  process.stdout.write("start\n");
  const started = process.hrtime.bigint();
  await upgradeOnline(ds, { complete: true, batchMs: order.batchMs });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  await ds.destroy();
  process.stdout.write(`done ${ms}\n`);
}

if (require.main === module) {
  main().catch((error) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`);
    process.exit(1);
  });
}
