/**
 * A fresh database at schema V2 for the online-upgrade tests: the shipped V1 migration, `users` users (every V1
 * column filled, test/fixtures/v1-users.ts), then the shipped V2 migration (offline: on PostgreSQL it rewrites
 * the table, whose pages are then full, as after inserts).
 */
import type { DataSource } from "typeorm";
import { fillV1 } from "../../fixtures/v1-users";
import { TestDatabase } from "../../support/database";
import type { DatabaseKind } from "../../support/servers";
import { APPS, MIGRATIONS } from "./apps";

/** The database (pushed onto `databases`, for the caller to drop) with the V2 and V3 apps' DataSources on it. */
export async function filledAtV2(
  kind: DatabaseKind,
  users: number,
  databases: TestDatabase[],
): Promise<{ v2: DataSource; v3: DataSource; database: string }> {
  const db = new TestDatabase(kind);
  databases.push(db);
  await db.create();
  const open = async (version: 1 | 2 | 3) => db.dataSource([...APPS[version]], { migrations: MIGRATIONS[version] });
  const v1 = await open(1);
  await v1.runMigrations({ transaction: "all" });
  await fillV1(v1, users);
  await v1.destroy();
  const v2 = await open(2);
  await v2.runMigrations({ transaction: "all" });
  return { v2, v3: await open(3), database: db.name };
}
