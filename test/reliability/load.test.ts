/**
 * Load: concurrent sign-ins, role changes and uniquifier rotations on many users through a pool, on each
 * database, in a seeded random order. Afterwards nothing is lost or doubled: every user's login count is
 * exactly its number of recorded sign-ins, no two users share a uniquifier, every stored uniquifier is one
 * the run generated for that user, every role link exists exactly when the reported adds and removes say so,
 * and every permission added to a role is on it. No operation may fail: the datastore retries the deadlocks
 * and serialization failures the databases report (counted here from TypeORM's query-error log); a crafted
 * deadlock shows the retry at work.
 *
 * At the same time, on users of their own, refresh-token operations (schema version 4: created, exchanged,
 * replayed, raced, revoked, access reset, beside sign-ins; support/refresh-load.ts): each generation has
 * exactly one winner, and no tracker is lost or doubled.
 *
 * TSM_LOAD_OPS (default 1,200 per database), TSM_LOAD_USERS (200), TSM_REFRESH_OPS (600), TSM_REFRESH_USERS
 * (40), TSM_LOAD_SEED.
 */
import { In, type DataSource } from "typeorm";
import { SecurityDatastore } from "../../src";
import { retryingConflicts } from "../../src/datastore/database-errors";
import { entities, Role, User } from "../fixtures/app-v4";
import { describeEachDatabase } from "../support/database";
import { countFrom, recordFigures, seededRandom, seedFrom } from "./support/figures";
import { conflictCounter, LoadState, NOTHING_WRONG } from "./support/load";
import { NOTHING_WRONG_WITH_REFRESH, RefreshLoad } from "./support/refresh-load";

const OPS = countFrom("TSM_LOAD_OPS", 1200);
const USERS = countFrom("TSM_LOAD_USERS", 200);
const CONCURRENCY = 40;
const REFRESH_OPS = countFrom("TSM_REFRESH_OPS", 600);
const REFRESH_USERS = countFrom("TSM_REFRESH_USERS", 40);
const REFRESH_CONCURRENCY = 20;

describeEachDatabase("load", (db) => {
  let ds: DataSource;
  let store: SecurityDatastore<User, Role>;
  const conflicts = conflictCounter();

  beforeAll(async () => {
    ds = await db.dataSource(entities, { synchronize: true, logger: conflicts.logger, poolSize: 10 });
    store = new SecurityDatastore(ds, User, Role);
  });

  it(`${OPS} concurrent sign-ins, role changes and rotations on ${USERS} users, beside ${REFRESH_OPS} refresh-token operations, lose nothing`, async () => {
    const seed = seedFrom("TSM_LOAD_SEED", `load [${db.kind}]`);
    const random = seededRandom(seed);
    const load = await LoadState.create(store, USERS);
    const refresh = await RefreshLoad.create(store, REFRESH_USERS);
    // Two seeded plans, drawn before either starts, so the seed replays both.
    const [seconds] = await Promise.all([
      load.run(OPS, CONCURRENCY, seededRandom(Math.floor(random() * 2 ** 31)), () => store),
      refresh.run(REFRESH_OPS, REFRESH_CONCURRENCY, seededRandom(Math.floor(random() * 2 ** 31))),
    ]);

    expect(load.failures.map(({ error: e }) => `${(e as Error).name}: ${(e as Error).message}`)).toEqual([]);
    const found = await load.check(ds, store);
    expect(found).toEqual(NOTHING_WRONG);
    const refreshFound = await refresh.check(ds);
    expect(refreshFound).toEqual(NOTHING_WRONG_WITH_REFRESH);
    expect(refresh.racesOnValidFamilies).toBeGreaterThan(0);

    recordFigures("load", db.kind, {
      seed,
      operations: OPS + USERS + load.roles.length,
      concurrentOperations: OPS,
      mix: load.counts,
      users: USERS,
      concurrency: CONCURRENCY,
      pool: db.kind === "sqlite" ? 1 : 10,
      seconds,
      conflictsRetried: conflicts.count(),
      failedOperations: load.failures.length,
      lostLoginCounts: found.lostLogins.length,
      duplicateUniquifiers: found.duplicateUniquifiers,
      wrongLinks: found.wrongLinks.length,
      lostPermissions: found.lostPermissions.length,
      refresh: {
        operations: REFRESH_OPS,
        users: REFRESH_USERS,
        concurrency: REFRESH_CONCURRENCY,
        mix: refresh.counts,
        exchangeOutcomes: refresh.outcomes,
        trackers: refresh.trackers,
        racesOnValidFamilies: refresh.racesOnValidFamilies,
        failedOperations: refreshFound.failures.length,
        unexpectedOutcomes: refreshFound.unexpectedOutcomes.length,
        lostTrackers: refreshFound.lostTrackers,
        strayTrackers: refreshFound.strayTrackers,
        generationsWithTwoWinners: refreshFound.generationsWithTwoWinners.length,
        racesWithoutOneWinner: refreshFound.racesWithoutOneWinner.length,
      },
    });
  });

  // SQLite has one connection per DataSource, so two transactions never wait for each other there.
  (db.kind === "sqlite" ? it.skip : it)(
    `a real deadlock the database reports is retried, and both operations complete${db.kind === "sqlite" ? " (not on SQLite: one connection, so no deadlock)" : ""}`,
    async () => {
      const [a, b] = [await store.createRole({ name: "lock-a" }), await store.createRole({ name: "lock-b" })];
      const p = (n: number) => (db.kind === "postgres" ? `$${n}` : "?");
      let attempts = 0;
      let arrived = 0;
      let release!: () => void;
      const bothHoldTheirFirstRow = new Promise<void>((resolve) => (release = resolve));
      /** Locks `first`, waits (on its first try) until the other holds its own first row, then locks `second`. */
      const crossing = (first: number, second: number) => {
        let tries = 0;
        return retryingConflicts(ds, ds.getMetadata(Role), () =>
          ds.transaction(async (manager) => {
            attempts++;
            await manager.query(`UPDATE role SET description = 'first' WHERE id = ${p(1)}`, [first]);
            if (++tries === 1 && ++arrived === 2) release();
            if (tries === 1) await bothHoldTheirFirstRow;
            await manager.query(`UPDATE role SET description = 'second' WHERE id = ${p(1)}`, [second]);
          }),
        );
      };
      const before = conflicts.count();
      await Promise.all([crossing(a.id, b.id), crossing(b.id, a.id)]);
      expect(conflicts.count() - before).toBe(1); // the database chose one victim...
      expect(attempts).toBe(3); // ...which ran again and completed
      const stored = await ds.getRepository(Role).findBy({ name: In(["lock-a", "lock-b"]) });
      expect(stored.map((r) => r.description).sort()).toEqual(["first", "second"]); // the victim's retry wrote last
    },
  );
});
