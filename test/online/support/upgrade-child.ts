/**
 * The process the online-upgrade kill trials SIGKILL. It loads everything first and says `ready`; then it reads
 * one line of JSON from stdin (`UpgradeOrder`), opens the database with the new app version's DataSource,
 * says `start`, runs the whole online upgrade (`complete: true`), says `done <ms>` and exits. The order names
 * only the target: the upgrade starts from whatever the database records, so a V1 database with `to: 4` is
 * brought to V4 in one command (every step in turn), as the command line does it with the V4 app.
 */
import "reflect-metadata";
import { DataSource } from "typeorm";
import { upgradeOnline } from "../../../src/online/upgrade";
import { databaseOptions } from "../../support/database";
import type { DatabaseKind } from "../../support/servers";
import { serveOneOrder } from "../../reliability/support/migration-child";
import { APPS, MIGRATIONS } from "./apps";

/** What the parent asks the child to do. */
export interface UpgradeOrder {
  kind: DatabaseKind;
  /** Database name (PostgreSQL, MariaDB) or file (SQLite). */
  name: string;
  /** The schema version to reach: the app version whose DataSource the child opens. */
  to: 2 | 3 | 4;
  /** Target duration of a backfill batch, ms. */
  batchMs: number;
  /** Connections that backfill side by side. */
  workers: number;
}

/** The new app version's DataSource on the trial's database. */
export function upgraderDataSource(order: Pick<UpgradeOrder, "kind" | "name" | "to">): DataSource {
  return new DataSource(databaseOptions(order.kind, order.name, [...APPS[order.to]], { migrations: MIGRATIONS[order.to] }));
}

if (require.main === module) {
  serveOneOrder<UpgradeOrder>(upgraderDataSource, async (ds, order) => {
    await upgradeOnline(ds, { complete: true, batchMs: order.batchMs, workers: order.workers });
  });
}
