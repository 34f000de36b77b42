/**
 * V2 to V3 online on a Galera node keeps the table rebuild for `password`: the twin swap relies on `LOCK
 * TABLES … WRITE` stopping every other writer between dropping the triggers and the ALTER, and a node's table
 * lock does not stop the writes of the other nodes. The plan says rebuild, and the upgrade completes (its
 * backfill on two workers) with every password, while another node keeps changing them, in the offline
 * migration's schema.
 */
import { planOnlineUpgrade, upgradeOnline } from "../../src";
import { fillV1 } from "../fixtures/v1-users";
import { APPS, MIGRATIONS } from "../online/support/apps";
import { describeOn, GaleraDatabase } from "./support/clusters";

const USERS = 500;

describeOn("galera", "online V2 to V3 on Galera", () => {
  const db = new GaleraDatabase();
  afterAll(() => db.drop());

  it("keeps the rebuild (no twin, no LOCK TABLES), and completes with two backfill workers while node 2 changes passwords", async () => {
    await db.create();
    const v1 = await db.dataSource(0, { entities: [...APPS[1]], migrations: MIGRATIONS[1] });
    await v1.runMigrations({ transaction: "all" });
    await fillV1(v1, USERS);
    const v2 = await db.dataSource(0, { entities: [...APPS[2]], migrations: MIGRATIONS[2] });
    await v2.runMigrations({ transaction: "all" });
    const upgrader = await db.dataSource(0, { entities: [...APPS[3]], migrations: MIGRATIONS[3] });

    const plan = await planOnlineUpgrade(upgrader);
    const statements = plan.phases.flatMap((p) => p.statements).join("\n");
    expect(statements).not.toContain("tsm_online_null_password");
    expect(statements).not.toContain("LOCK TABLES");
    expect(plan.phases.find((p) => p.phase === "indexes")!.statements).toEqual([
      expect.stringContaining("MODIFY COLUMN `password` varchar(255) NULL"),
    ]);

    // Node 2 changes passwords all along; each change must survive the upgrade. A change that meets the
    // backfill's write of the same row on node 1 fails certification (a deadlock error, as on any Galera
    // cluster) and is tried again, as an app does.
    const other = await db.dataSource(1, { entities: [...APPS[2]] });
    let changes = 0;
    let running = true;
    const changing = (async () => {
      while (running) {
        changes++;
        for (;;) {
          try {
            await other.query(`UPDATE user SET password = ? WHERE email = ?`, [`changed-${changes}`, `user${changes % USERS}@example.com`]);
            break;
          } catch (error) {
            if ((error as { errno?: number }).errno !== 1213) throw error;
          }
        }
      }
    })();
    // Two workers: each certifies its own batches against node 2's writes, and retries its own conflicts.
    const done = await upgradeOnline(upgrader, { batchMs: 5, workers: 2, complete: true });
    running = false;
    await changing;
    expect(done.done).toBe(true);
    expect(changes).toBeGreaterThan(0);
    // Read where it was written: node 2 has applied its own last change.
    const [last] = await other.query(`SELECT password FROM user WHERE email = ?`, [`user${changes % USERS}@example.com`]);
    expect(last.password).toBe(`changed-${changes}`);
    const [{ nullable }] = await upgrader.query(
      `SELECT IS_NULLABLE AS nullable FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'user' AND COLUMN_NAME = 'password'`,
    );
    expect(nullable).toBe("YES");
    expect((await upgrader.driver.createSchemaBuilder().log()).upQueries).toEqual([]);
  });
});
