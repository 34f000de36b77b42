/**
 * PostgreSQL: the backfill walks the table page by page in rounds (src/online/phases/page-rounds.ts), so that
 * most users get their token in place, on their own page, instead of every row moving and every index taking a
 * new entry. Checked on a V2 table the offline migration rewrote (full pages, as a table filled by inserts):
 * most rows stay on their page; a row the app moves past the pages the rounds walk still gets its token.
 * And on PostgreSQL and MariaDB: backfill workers on a pool with exactly as many connections do not wait forever.
 */
import { DataSource } from "typeorm";
import type { DataSourceOptions } from "typeorm";
import { upgradeOnline } from "../../src";
import { roundsPerPage } from "../../src/online/phases/page-rounds";
import { describeOnDatabase, TestDatabase } from "../support/database";
import { filledAtV2 } from "./support/at-v2";

const USERS = 3000;

/** Each user's page (the block of its tuple id), by id. */
async function pagesOf(ds: DataSource): Promise<Map<number, number>> {
  const rows: Array<{ id: number; page: number }> = await ds.query(`SELECT id, (ctid::text::point)[0]::int AS page FROM "user"`);
  return new Map(rows.map((row) => [row.id, row.page]));
}

/** How many pages the user table has. */
async function tablePages(ds: DataSource): Promise<number> {
  return Number((await ds.query(`SELECT pg_relation_size('"user"') / 8192 AS pages`))[0].pages);
}

/** Every user's WebAuthn handle is there and distinct. */
async function expectDistinctHandles(ds: DataSource): Promise<void> {
  const [counts] = await ds.query(
    `SELECT COUNT(*) AS users, COUNT(fs_webauthn_user_handle) AS handles, COUNT(DISTINCT fs_webauthn_user_handle) AS distinct_handles FROM ${ds.driver.escape("user")}`,
  );
  expect(Number(counts.handles)).toBe(Number(counts.users));
  expect(Number(counts.distinct_handles)).toBe(Number(counts.users));
}

describeOnDatabase("postgres", "online backfill on PostgreSQL: page by page, most rows updated in place", () => {
  const databases: TestDatabase[] = [];
  afterAll(async () => {
    for (const database of databases) await database.drop();
  });
  /** A fresh database at V2 (`USERS` users, the table rewritten by the offline V1 to V2), and the V2 and V3 apps' DataSources on it. */
  const atV2 = () => filledAtV2("postgres", USERS, databases);

  it("V2 to V3 with two workers: most users keep their page (their handle written in place), the table grows by far less than a copy of every row, every handle distinct", async () => {
    const { v2, v3 } = await atV2();
    const before = await pagesOf(v2);
    const pagesBefore = await tablePages(v2);
    await upgradeOnline(v3, { batchMs: 5, workers: 2, complete: true });
    const after = await pagesOf(v3);
    const stayed = [...before].filter(([id, page]) => after.get(id) === page).length;
    // In id order, every row moved: no page had room for a second version of any of its rows.
    expect(stayed / USERS).toBeGreaterThan(0.5);
    expect(await tablePages(v3)).toBeLessThan(pagesBefore * 1.7);
    await expectDistinctHandles(v3);
    await expect(v3.showMigrations()).resolves.toBe(false);
  });

  it("a user the app moves past the pages the rounds walk, before they reach it, gets its handle from the id-ordered batches after them", async () => {
    const { v2, v3 } = await atV2();
    const pages = await tablePages(v2);
    const [{ last }] = await v2.query(`SELECT MAX(id) AS last FROM "user"`);
    let moved = -1;
    await upgradeOnline(v3, {
      batchMs: 5,
      workers: 1,
      complete: true,
      onProgress: async (progress) => {
        if (progress.phase !== "backfill" || progress.event !== "progress" || moved >= 0) return;
        // The first round of the first chunk is done; the last users' pages are far ahead. A sign-in writes each
        // of them again: their pages are full, so the new versions go to a new page at the end of the table.
        await v2.query(`UPDATE "user" SET login_count = login_count + 1 WHERE id > $1`, [Number(last) - 40]);
        const [{ n }] = await v2.query(
          `SELECT COUNT(*) AS n FROM "user" WHERE id > $1 AND fs_webauthn_user_handle IS NULL AND (ctid::text::point)[0] >= $2`,
          [Number(last) - 40, pages],
        );
        moved = Number(n);
      },
    });
    expect(moved).toBeGreaterThan(0);
    await expectDistinctHandles(v3);
  });

  it("the rounds per page: the fewest rows moved out first, so that the rows after fit in the space they leave, all rows of a page taken", () => {
    // A V2 user row of about 250 bytes (30 to an 8 kB page) with its line pointer, growing by a 64-character token.
    const rounds = roundsPerPage(30, 250, 72);
    expect(rounds.reduce((a, b) => a + b, 0)).toBe(30);
    expect(rounds[0]).toBeLessThan(15);
    expect(rounds.length).toBeLessThanOrEqual(8);
    // Each later round fits in the space the rounds before it freed: never more rows than that space holds.
    let free = rounds[0] * 250;
    for (const fits of rounds.slice(1)) {
      expect(fits * (250 + 72)).toBeLessThanOrEqual(free);
      free -= fits * 72;
    }
    // Rows wider than half a page: one per round, each moved out.
    expect(roundsPerPage(1.5, 5000, 72)).toEqual([2]);
  });
});

for (const kind of ["postgres", "mariadb"] as const)
  describeOnDatabase(kind, "online backfill workers on a pool exactly their size", () => {
    const databases: TestDatabase[] = [];
    afterAll(async () => {
      for (const database of databases) await database.drop();
    });

    it("two workers on a pool of two connections: the upgrade completes, every user a distinct handle (PostgreSQL probed each worker's connection for a pooler through a third, and waited forever)", async () => {
      const { v3: wide } = await filledAtV2(kind, 300, databases);
      const narrow = await new DataSource({ ...wide.options, poolSize: 2 } as DataSourceOptions).initialize();
      try {
        const done = await Promise.race([
          upgradeOnline(narrow, { batchMs: 5, workers: 2, complete: true }),
          new Promise<"stuck">((resolve) => setTimeout(() => resolve("stuck"), 20_000).unref()),
        ]);
        expect(done).not.toBe("stuck");
        await expectDistinctHandles(narrow);
      } finally {
        await narrow.destroy();
      }
    });
  });
