/**
 * MariaDB, V2 to V3 online: `password` becomes nullable through a nullable twin (src/online/phases/twins.ts),
 * not a table rebuild. The table is never rebuilt (InnoDB keeps its table id); every password written while
 * the twin is there, by either app version, ends in `password`; a run killed between the swap's statements
 * (the triggers dropped, the ALTER not run) loses no password written after it; a server that may not move
 * columns instantly gets the rebuild, with the same end.
 */
import { DataSource } from "typeorm";
import { planOnlineUpgrade, upgradeOnline } from "../../src";
import type { OnlineUpgradeProgress } from "../../src";
import { describeOnDatabase, TestDatabase, withMysql } from "../support/database";
import { MYSQL_URL } from "../support/servers";
import { schemaFingerprint } from "../reliability/support/snapshots";
import { APPS } from "./support/apps";
import { filledAtV2 } from "./support/at-v2";

const USERS = 300;
const TWIN = "tsm_online_null_password";

describeOnDatabase("mariadb", "online V2 to V3 on MariaDB: password made nullable through a twin", () => {
  const databases: TestDatabase[] = [];
  afterAll(async () => {
    for (const database of databases) await database.drop();
  });
  /** A fresh database at V2 (`USERS` users), and the V2 and V3 apps' DataSources on it. */
  const atV2 = () => filledAtV2("mariadb", USERS, databases);
  /** InnoDB's id of the user table: a rebuild gives the table a new one. */
  const tableId = async (ds: DataSource, database: string) =>
    Number((await ds.query(`SELECT TABLE_ID AS id FROM information_schema.INNODB_SYS_TABLES WHERE NAME = ?`, [`${database}/user`]))[0].id);
  const passwordOf = async (ds: DataSource, email: string) =>
    (await ds.query(`SELECT password FROM user WHERE email = ?`, [email]))[0]?.password as string | undefined;
  const columnsOf = async (ds: DataSource): Promise<string[]> => {
    const columns: Array<{ name: string }> = await ds.query(
      `SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'user' ORDER BY ORDINAL_POSITION`,
    );
    return columns.map((c) => c.name);
  };
  let reference: string;
  /** Runs the upgrade until `phase` starts, and stops it there (as a kill would, before the phase's first statement). */
  async function stopAtStartOf(ds: DataSource, phase: string): Promise<void> {
    const stop = new Error(`stopped at the start of ${phase}`);
    const running = upgradeOnline(ds, {
      batchMs: 5,
      onProgress: (p) => {
        if (p.phase === phase && p.event === "start") throw stop;
      },
    });
    await expect(running).rejects.toBe(stop);
  }

  beforeAll(async () => {
    const { v3 } = await atV2();
    await v3.runMigrations({ transaction: "all" });
    reference = await schemaFingerprint(v3, "mariadb");
  });

  it("the plan adds a twin and its triggers, and swaps it under LOCK TABLES; the table is never rebuilt; passwords either app version writes in between end in password", async () => {
    const { v2, v3, database } = await atV2();
    const plan = await planOnlineUpgrade(v3);
    const phase = (name: string) => plan.phases.find((p) => p.phase === name)!;
    expect(phase("expand").statements.join("\n")).toContain(
      `ADD COLUMN \`${TWIN}\` varchar(255) NULL AFTER \`password\`, ALGORITHM=INSTANT`,
    );
    expect(phase("expand").statements.join("\n")).toMatch(/CREATE TRIGGER IF NOT EXISTS `tsm_online_null_user_update` BEFORE UPDATE/);
    expect(phase("indexes").statements).toEqual([
      expect.not.stringContaining("MODIFY COLUMN"),
      "LOCK TABLES `user` WRITE",
      "DROP TRIGGER IF EXISTS `tsm_online_null_user_insert`",
      "DROP TRIGGER IF EXISTS `tsm_online_null_user_update`",
      `ALTER TABLE \`user\` DROP COLUMN \`password\`, CHANGE COLUMN \`${TWIN}\` \`password\` varchar(255) NULL, ALGORITHM=INSTANT`,
      "UNLOCK TABLES",
    ]);
    expect(phase("indexes").description).toMatch(/no table rebuild.*nullable twin in one instant ALTER under LOCK TABLES/);
    const id = await tableId(v3, database);

    // While the twin is there: the old version changes a password and signs a user up (raw writes are what
    // its ORM sends); the new version changes another password.
    const seen: string[] = [];
    const onProgress = async (p: OnlineUpgradeProgress) => {
      if (p.event !== "start") return;
      seen.push(p.phase);
      if (p.phase === "backfill") await v2.query(`UPDATE user SET password = 'changed-during-backfill' WHERE email = 'user3@example.com'`);
      if (p.phase === "indexes") {
        expect(await columnsOf(v3)).toContain(TWIN);
        await v2.query(`UPDATE user SET password = 'changed-before-swap' WHERE email = 'user5@example.com'`);
        const users = v2.getRepository(APPS[2][0]);
        await users.save(users.create({ email: "signed-up-by-v2@example.com", password: "v2-hash" }));
        await v3.query(`UPDATE user SET password = 'changed-by-v3' WHERE email = 'user7@example.com'`);
      }
    };
    const done = await upgradeOnline(v3, { batchMs: 5, complete: true, onProgress });
    expect(done.done).toBe(true);
    expect(seen).toEqual(["check", "expand", "backfill", "indexes", "complete"]);

    expect(await tableId(v3, database)).toBe(id);
    expect(await passwordOf(v3, "user3@example.com")).toBe("changed-during-backfill");
    expect(await passwordOf(v3, "user5@example.com")).toBe("changed-before-swap");
    expect(await passwordOf(v3, "signed-up-by-v2@example.com")).toBe("v2-hash");
    expect(await passwordOf(v3, "user7@example.com")).toBe("changed-by-v3");
    expect(await passwordOf(v3, "user9@example.com")).toMatch(/^\$/); // untouched users keep theirs
    const [{ triggers }] = await v3.query(`SELECT COUNT(*) AS triggers FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()`);
    expect(Number(triggers)).toBe(0);
    expect(await columnsOf(v3)).not.toContain(TWIN);
    expect(await schemaFingerprint(v3, "mariadb")).toBe(reference);
    expect((await v3.driver.createSchemaBuilder().log()).upQueries).toEqual([]);
    // password is nullable now, as V3 says: a user without one can be stored.
    await v3.query(`UPDATE user SET password = NULL WHERE email = 'user11@example.com'`);
    expect(await passwordOf(v3, "user11@example.com")).toBeNull();
    // And down works as after the offline path: back to NOT NULL once that user has a password again.
    await v3.query(`UPDATE user SET password = 'x' WHERE email = 'user11@example.com'`);
    await v3.undoLastMigration({ transaction: "all" });
    const [column] = await v3.query(
      `SELECT IS_NULLABLE AS n FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'user' AND COLUMN_NAME = 'password'`,
    );
    expect(column.n).toBe("NO");
  });

  it("killed between the swap's statements (triggers dropped, ALTER not run): a password changed then is kept, because the resumed run copies every twin that differs", async () => {
    const { v2, v3 } = await atV2();
    await stopAtStartOf(v3, "indexes");
    // What a run killed after the swap's DROP TRIGGERs leaves: the twin, no triggers; writes no longer reach the twin.
    await v2.query(`DROP TRIGGER tsm_online_null_user_insert`);
    await v2.query(`DROP TRIGGER tsm_online_null_user_update`);
    await v2.query(`UPDATE user SET password = 'changed-while-untriggered' WHERE email = 'user4@example.com'`);
    const users = v2.getRepository(APPS[2][0]);
    await users.save(users.create({ email: "untriggered-signup@example.com", password: "hash-2" }));
    const [{ behind }] = await v2.query(`SELECT COUNT(*) AS behind FROM user WHERE NOT (${TWIN} <=> password)`);
    expect(Number(behind)).toBe(2);

    const plan = await planOnlineUpgrade(v3);
    expect(plan.phases.find((p) => p.phase === "expand")!.done).toBe(false); // the triggers are made again
    expect(plan.phases.find((p) => p.phase === "backfill")!.rows).toBe(2);
    const progress: OnlineUpgradeProgress[] = [];
    const done = await upgradeOnline(v3, { batchMs: 5, complete: true, onProgress: (p) => void progress.push(p) });
    expect(done.done).toBe(true);
    expect(progress.find((p) => p.phase === "backfill" && p.event === "progress")?.rowsTotal).toBe(2);
    expect(await passwordOf(v3, "user4@example.com")).toBe("changed-while-untriggered");
    expect(await passwordOf(v3, "untriggered-signup@example.com")).toBe("hash-2");
    expect(await schemaFingerprint(v3, "mariadb")).toBe(reference);
  });

  it("a server that may not move columns instantly (innodb_instant_alter_column_allowed = add_last) gets the rebuild instead, with the same end", async () => {
    const { v3, database } = await atV2();
    const [{ was }] = await v3.query(`SELECT @@GLOBAL.innodb_instant_alter_column_allowed AS was`);
    await v3.query(`SET GLOBAL innodb_instant_alter_column_allowed = 'add_last'`);
    try {
      const plan = await planOnlineUpgrade(v3);
      expect(plan.phases.find((p) => p.phase === "indexes")!.statements).toEqual([
        expect.stringContaining("MODIFY COLUMN `password` varchar(255) NULL"),
      ]);
      expect(plan.phases.find((p) => p.phase === "expand")!.statements.join("\n")).not.toContain(TWIN);
      const id = await tableId(v3, database);
      expect((await upgradeOnline(v3, { batchMs: 5, complete: true })).done).toBe(true);
      expect(await tableId(v3, database)).not.toBe(id); // rebuilt
    } finally {
      await v3.query(`SET GLOBAL innodb_instant_alter_column_allowed = '${String(was)}'`);
    }
    expect(await schemaFingerprint(v3, "mariadb")).toBe(reference);
  });

  it("a run that added twins plans with them even once the server forbids instant moves (a rebuild would leave them behind), and completes once it allows them again", async () => {
    const { v3 } = await atV2();
    await stopAtStartOf(v3, "backfill");
    expect(await columnsOf(v3)).toContain(TWIN);
    const [{ was }] = await v3.query(`SELECT @@GLOBAL.innodb_instant_alter_column_allowed AS was`);
    await v3.query(`SET GLOBAL innodb_instant_alter_column_allowed = 'add_last'`);
    try {
      const plan = await planOnlineUpgrade(v3);
      expect(plan.phases.find((p) => p.phase === "indexes")!.statements).toContain("LOCK TABLES `user` WRITE");
    } finally {
      await v3.query(`SET GLOBAL innodb_instant_alter_column_allowed = '${String(was)}'`);
    }
    expect((await upgradeOnline(v3, { batchMs: 5, complete: true })).done).toBe(true);
    expect(await columnsOf(v3)).not.toContain(TWIN);
    expect(await schemaFingerprint(v3, "mariadb")).toBe(reference);
  });

  it("a role without the TRIGGER privilege: expand stops at CREATE TRIGGER with MariaDB's own message; granted it, the same command carries on to the end", async () => {
    const { v3, database } = await atV2();
    const role = `tsm_twin_${process.pid}`;
    await withMysql(async (c) => {
      await c.query(`CREATE USER IF NOT EXISTS '${role}'@'%' IDENTIFIED BY 'pw'`);
      await c.query(
        `GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, REFERENCES, LOCK TABLES ON \`${database}\`.* TO '${role}'@'%'`,
      );
    });
    const url = new URL(MYSQL_URL);
    url.username = role;
    url.password = "pw";
    url.pathname = `/${database}`;
    // Each run as a new process would: its own DataSource (MariaDB gives a connection a database grant made
    // after it opened only on its next USE).
    const run = async () => {
      const asRole = new DataSource({ ...v3.options, url: url.toString() } as typeof v3.options);
      await asRole.initialize();
      try {
        return await upgradeOnline(asRole, { batchMs: 5, complete: true });
      } finally {
        await asRole.destroy();
      }
    };
    try {
      await expect(run()).rejects.toThrow(/TRIGGER command denied/);
      expect(await columnsOf(v3)).toContain(TWIN);
      await withMysql((c) => c.query(`GRANT TRIGGER ON \`${database}\`.* TO '${role}'@'%'`));
      expect((await run()).done).toBe(true);
    } finally {
      await withMysql((c) => c.query(`DROP USER IF EXISTS '${role}'@'%'`));
    }
    expect(await columnsOf(v3)).not.toContain(TWIN);
    expect(await schemaFingerprint(v3, "mariadb")).toBe(reference);
  });
});
