/**
 * `npm run bench:backfill`: PostgreSQL, the V2 to V3 backfill of BENCH_USERS users (default 1,000,000) two
 * ways on copies of one filled database, alternating, BENCH_RUNS times each (default 2): the package's
 * (`upgradeOnline`, whose backfill goes page by page in rounds, src/online/phases/page-rounds.ts), and raw SQL
 * in id order, the statement the backfill sent before (batches of 2,000 ids). Both on BENCH_WORKERS
 * connections (default 2), with the session settings of the upgrade (WAL compressed, pages written out
 * early), no other load. Reports users per second, how many updates stayed on their page (HOT), WAL per user
 * and the table's pages after.
 */
import "reflect-metadata";
import { Client } from "pg";
import { upgradeOnline } from "../src";
import { DataSource } from "typeorm";
import { databaseOptions, TestDatabase, withPg } from "../test/support/database";
import { PG_URL } from "../test/support/servers";
import { APPS, MIGRATIONS } from "../test/online/support/apps";
import { fill } from "./migrations";

const USERS = Number(process.env.BENCH_USERS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 2);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);

/** What one backfill did. */
interface Outcome {
  seconds: number;
  hot: number;
  walPerUser: number;
  pagesAfter: number;
}

async function connect(database: string): Promise<Client> {
  const url = new URL(PG_URL);
  url.pathname = `/${database}`;
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  return client;
}

/** The table's update counts (read after the workers' statistics reached the server) and pages. */
async function tableCounts(client: Client): Promise<{ updates: number; hot: number; pages: number }> {
  await new Promise((resolve) => setTimeout(resolve, 1500)); // backends report their statistics at most once a second
  const { rows } = await client.query(
    `SELECT n_tup_upd AS updates, n_tup_hot_upd AS hot, pg_relation_size(relid) / 8192 AS pages FROM pg_stat_user_tables WHERE relname = 'user'`,
  );
  return { updates: Number(rows[0].updates), hot: Number(rows[0].hot), pages: Number(rows[0].pages) };
}

const walNow = async (client: Client) => (await client.query(`SELECT pg_current_wal_lsn()::text AS lsn`)).rows[0].lsn as string;
const walSince = async (client: Client, lsn: string) =>
  Number((await client.query(`SELECT pg_current_wal_lsn() - $1::pg_lsn AS bytes`, [lsn])).rows[0].bytes);

/** The package's online upgrade to V3; the backfill phase timed from its progress events. */
async function byPackage(name: string): Promise<Outcome> {
  const v3 = await new DataSource(
    databaseOptions("postgres", name, [...APPS[3]], { migrations: MIGRATIONS[3], poolSize: WORKERS + 2 }),
  ).initialize();
  const admin = await connect(name);
  let started = 0;
  let seconds = 0;
  let lsn = "";
  let wal = 0;
  await upgradeOnline(v3, {
    workers: WORKERS,
    onProgress: async (progress) => {
      if (progress.event !== "start") return;
      if (progress.phase === "backfill") {
        await admin.query(`CHECKPOINT`); // both ways start from a clean buffer pool
        lsn = await walNow(admin);
        started = Date.now();
      } else if (started && !seconds) {
        seconds = (Date.now() - started) / 1000;
        wal = await walSince(admin, lsn);
      }
    },
  });
  const counts = await tableCounts(admin);
  await admin.end();
  await v3.destroy();
  return { seconds, hot: counts.hot / counts.updates, walPerUser: wal / USERS, pagesAfter: counts.pages };
}

/** Raw SQL: the column added as the upgrade adds it, then the id-ordered batches on `WORKERS` connections. */
async function byIdOrder(name: string): Promise<Outcome> {
  const admin = await connect(name);
  await admin.query(`CREATE EXTENSION IF NOT EXISTS pgcrypto`);
  await admin.query(`ALTER TABLE "user" ADD COLUMN fs_webauthn_user_handle varchar(64)`);
  await admin.query(`CHECKPOINT`);
  const [{ low, high }] = (await admin.query(`SELECT MIN(id) AS low, MAX(id) AS high FROM "user"`)).rows;
  const lsn = await walNow(admin);
  const started = Date.now();
  const slice = Math.ceil((Number(high) + 1 - Number(low)) / WORKERS);
  await Promise.all(
    Array.from({ length: WORKERS }, async (_, i) => {
      const worker = await connect(name);
      await worker.query(`SET wal_compression = 'lz4'`);
      await worker.query(`SET backend_flush_after = '256kB'`);
      const end = Math.min(Number(high) + 1, Number(low) + (i + 1) * slice);
      for (let from = Number(low) + i * slice; from < end; from += 2000)
        await worker.query(
          `UPDATE "user" SET fs_webauthn_user_handle = encode(gen_random_bytes(32), 'hex') WHERE id >= $1 AND id < $2 AND fs_webauthn_user_handle IS NULL`,
          [from, Math.min(end, from + 2000)],
        );
      await worker.end();
    }),
  );
  const seconds = (Date.now() - started) / 1000;
  const wal = await walSince(admin, lsn);
  const counts = await tableCounts(admin);
  await admin.end();
  return { seconds, hot: counts.hot / counts.updates, walPerUser: wal / USERS, pagesAfter: counts.pages };
}

async function main(): Promise<void> {
  const source = new TestDatabase("postgres");
  await source.create();
  await fill(source, 2);
  const pagesBefore = await withPg(async () => {
    const client = await connect(source.name);
    await client.query(`VACUUM ANALYZE "user"`);
    const pages = Number((await client.query(`SELECT pg_relation_size('"user"') / 8192 AS pages`)).rows[0].pages);
    await client.end();
    return pages;
  });
  console.log(`V2 to V3 backfill, PostgreSQL, ${USERS.toLocaleString("en")} users (${pagesBefore} pages), ${WORKERS} workers`);
  console.log(`| way | users/s | seconds | updates in place (HOT) | WAL per user (bytes) | pages after |`);
  console.log(`|---|---|---|---|---|---|`);
  for (let run = 0; run < RUNS; run++) {
    for (const [way, backfill] of [
      ["id order (raw SQL, the statement before)", byIdOrder],
      ["page rounds (the package)", byPackage],
    ] as const) {
      const copy = `${source.name}_copy`;
      await withPg((c) => c.query(`CREATE DATABASE ${copy} TEMPLATE ${source.name}`));
      try {
        const o = await backfill(copy);
        console.log(
          `| ${way} | ${Math.round(USERS / o.seconds).toLocaleString("en")} | ${o.seconds.toFixed(1)} | ${(o.hot * 100).toFixed(0)}% | ${Math.round(o.walPerUser)} | ${o.pagesAfter} |`,
        );
      } finally {
        await withPg((c) => c.query(`DROP DATABASE IF EXISTS ${copy} WITH (FORCE)`));
      }
    }
  }
  await source.drop();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
