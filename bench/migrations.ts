/**
 * `npm run bench`: each shipped upgrade (V1 to V2, V2 to V3) on 1,000,000 users (each with one role), against
 * the fastest hand-written raw-SQL migration reaching the same end schema, in the same process and database,
 * on SQLite, PostgreSQL and MariaDB. Each run starts from a freshly filled database at the version before;
 * ours and raw alternate; every result is checked (row and link counts, distinct tokens, zero drift for both).
 *
 * BENCH_USERS (default 1000000), BENCH_RUNS (default 3), BENCH_DATABASES (default sqlite,postgres,mariadb),
 * BENCH_STEPS (default v2,v3).
 */
import "reflect-metadata";
import { DataSource } from "typeorm";
import { securityMigrationsV3, securityMigrationsV1, securityMigrationsV2 } from "../migrations";
import * as v1 from "../test/fixtures/app-v1";
import { BenchRole, BenchUser, BenchUserV3, BenchWebAuthn } from "./entities";
import { TestDatabase } from "../test/support/database";
import { DatabaseKind, probeServers } from "../test/support/servers";

const USERS = Number(process.env.BENCH_USERS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const KINDS = (process.env.BENCH_DATABASES ?? "sqlite,postgres,mariadb").split(",") as DatabaseKind[];
const STEPS = (process.env.BENCH_STEPS ?? "v2,v3").split(",") as Array<"v2" | "v3">;

/**
 * Fills a fresh database at `version` (our migrations on the empty database), 10 roles and USERS users, one
 * role each; at V2 every user has a token uniquifier and a distinct phone number (V3 makes it unique).
 */
export async function fill(db: TestDatabase, version: 1 | 2): Promise<void> {
  const ds =
    version === 1
      ? await db.dataSource([v1.User, v1.Role], { migrations: securityMigrationsV1 })
      : await db.dataSource([BenchUser, BenchRole], { migrations: securityMigrationsV2 });
  await ds.runMigrations();
  const roles = Array.from({ length: 10 }, (_, i) => `('role${i + 1}', 'a,b')`).join(", ");
  await ds.query(`INSERT INTO role (name, permissions) VALUES ${roles}`);
  // At V2 also a token uniquifier and a distinct phone number per user, in the same INSERT.
  const v2 = version === 2;
  const columns = `email, username, password, active, fs_uniquifier, login_count, last_login_ip, create_datetime, update_datetime${v2 ? ", fs_token_uniquifier, us_phone_number" : ""}`;
  const extra = {
    sqlite: v2 ? `, lower(hex(randomblob(32))), '+1' || (4150000000 + n)` : "",
    postgres: v2 ? `, md5('t' || n) || md5('v' || n), '+1' || (4150000000 + n)` : "",
    mariadb: v2 ? `, CONCAT(MD5(CONCAT('t', seq)), MD5(CONCAT('v', seq))), CONCAT('+1', 4150000000 + seq)` : "",
  }[db.kind];
  const fillSql = {
    sqlite: `WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ${USERS})
             INSERT INTO user (${columns}) SELECT 'user' || n || '@example.com', 'name' || n, '$2b$12$' || hex(randomblob(26)), 1,
               lower(hex(randomblob(16))), n, '10.0.0.1', '2024-01-01 00:00:00', '2024-01-02 03:04:05.678'${extra} FROM seq`,
    postgres: `INSERT INTO "user" (${columns}) SELECT 'user' || n || '@example.com', 'name' || n, '$2b$12$' || md5(n::text), true,
               md5('u' || n), n, '10.0.0.1', '2024-01-01 00:00:00', '2024-01-02 03:04:05.678'${extra} FROM generate_series(1, ${USERS}) n`,
    mariadb: `INSERT INTO user (${columns}) SELECT CONCAT('user', seq, '@example.com'), CONCAT('name', seq), CONCAT('$2b$12$', MD5(seq)), 1,
               MD5(CONCAT('u', seq)), seq, '10.0.0.1', '2024-01-01 00:00:00', '2024-01-02 03:04:05.678'${extra} FROM seq_1_to_${USERS}`,
  }[db.kind];
  await ds.query(fillSql);
  await ds.query(`INSERT INTO roles_users (user_id, role_id) SELECT id, 1 + id % 10 FROM ${ds.driver.escape("user")}`);
  await ds.destroy();
}

/** The fastest raw-SQL V1-to-V2 migration we could write, per database; index names as TypeORM names them. */
async function rawV2(ds: DataSource, kind: DatabaseKind): Promise<void> {
  const idx = (column: string) => ds.namingStrategy.indexName("user", [column]);
  if (kind === "sqlite") {
    const sqlite = (ds.driver as any).databaseConnection;
    sqlite.exec(`BEGIN;
      ALTER TABLE "user" ADD COLUMN "us_totp_secrets" text;
      ALTER TABLE "user" ADD COLUMN "us_phone_number" varchar(128);
      ALTER TABLE "user" ADD COLUMN "fs_token_uniquifier" varchar(64) NOT NULL DEFAULT '';
      UPDATE "user" SET "fs_token_uniquifier" = lower(hex(randomblob(32)));
      CREATE UNIQUE INDEX "${idx("username")}" ON "user" ("username");
      CREATE UNIQUE INDEX "${idx("fs_token_uniquifier")}" ON "user" ("fs_token_uniquifier");`);
    const { sql } = sqlite.prepare(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'user'`).get();
    const version = sqlite.pragma("schema_version", { simple: true });
    sqlite.unsafeMode(true);
    sqlite.pragma("writable_schema = ON");
    sqlite
      .prepare(`UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'user'`)
      .run(sql.replace(` NOT NULL DEFAULT ''`, ` NOT NULL`));
    sqlite.pragma(`schema_version = ${version + 1}`);
    sqlite.pragma("writable_schema = OFF");
    sqlite.unsafeMode(false);
    sqlite.exec("COMMIT");
    await ds.query(
      `INSERT INTO migrations (timestamp, name) VALUES (1795737660000, 'SecurityV2TokenUniquifierUniqueUsername1795737660000')`,
    );
  } else if (kind === "postgres") {
    const runner = ds.createQueryRunner();
    await runner.query("BEGIN");
    await runner.query(`ALTER TABLE "user" ADD COLUMN "us_totp_secrets" text, ADD COLUMN "us_phone_number" character varying(128),
      ADD COLUMN "fs_token_uniquifier" character varying(64) NOT NULL DEFAULT encode(gen_random_bytes(32), 'hex')`);
    await runner.query(`ALTER TABLE "user" ALTER COLUMN "fs_token_uniquifier" DROP DEFAULT`);
    await runner.query(`CREATE UNIQUE INDEX "${idx("username")}" ON "user" ("username")`);
    await runner.query(`CREATE UNIQUE INDEX "${idx("fs_token_uniquifier")}" ON "user" ("fs_token_uniquifier")`);
    await runner.query(
      `INSERT INTO migrations (timestamp, name) VALUES (1795737660000, 'SecurityV2TokenUniquifierUniqueUsername1795737660000')`,
    );
    await runner.query("COMMIT");
    await runner.release();
  } else {
    await ds.query(`ALTER TABLE user ADD COLUMN us_totp_secrets text NULL, ADD COLUMN us_phone_number varchar(128) NULL,
      ADD COLUMN fs_token_uniquifier varchar(64) NOT NULL DEFAULT (LOWER(HEX(RANDOM_BYTES(32)))),
      ADD UNIQUE INDEX ${idx("username")} (username), ADD UNIQUE INDEX ${idx("fs_token_uniquifier")} (fs_token_uniquifier), ALGORITHM=COPY`);
    await ds.query(`ALTER TABLE user ALTER COLUMN fs_token_uniquifier DROP DEFAULT`);
    await ds.query(
      `INSERT INTO migrations (timestamp, name) VALUES (1795737660000, 'SecurityV2TokenUniquifierUniqueUsername1795737660000')`,
    );
  }
}

/** Edits SQLite's stored CREATE TABLE text (as SQLite documents for constraint and default changes). */
function editSqliteSchema(sqlite: any, table: string, edit: (sql: string) => string): void {
  const { sql } = sqlite.prepare(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?`).get(table);
  const version = sqlite.pragma("schema_version", { simple: true });
  sqlite.unsafeMode(true);
  sqlite.pragma("writable_schema = ON");
  sqlite.prepare(`UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?`).run(edit(sql), table);
  sqlite.pragma(`schema_version = ${version + 1}`);
  sqlite.pragma("writable_schema = OFF");
  sqlite.unsafeMode(false);
}

/**
 * The fastest raw-SQL V2-to-V3 migration we could write, per database. The empty web_authn table's DDL is what
 * TypeORM's schema builder asks for at that point (its time is in the raw figure too).
 */
async function rawV3(ds: DataSource, kind: DatabaseKind): Promise<void> {
  const idx = (column: string) => ds.namingStrategy.indexName("user", [column]);
  const record = `INSERT INTO migrations (timestamp, name) VALUES (1795737720000, 'SecurityV3WebAuthnRecoveryCodes1795737720000')`;
  const webAuthnTable = async () => {
    for (const { query, parameters } of (await ds.driver.createSchemaBuilder().log()).upQueries) await ds.query(query, parameters);
  };
  if (kind === "sqlite") {
    const sqlite = (ds.driver as any).databaseConnection;
    sqlite.exec(`BEGIN;
      CREATE UNIQUE INDEX "IDX_security_email_ci" ON "user" ("email" COLLATE NOCASE);
      ALTER TABLE "user" ADD COLUMN "fs_webauthn_user_handle" varchar(64);
      ALTER TABLE "user" ADD COLUMN "mf_recovery_codes" text;
      UPDATE "user" SET "fs_webauthn_user_handle" = lower(hex(randomblob(32)));
      CREATE UNIQUE INDEX "${idx("us_phone_number")}" ON "user" ("us_phone_number");
      CREATE UNIQUE INDEX "${idx("fs_webauthn_user_handle")}" ON "user" ("fs_webauthn_user_handle");`);
    editSqliteSchema(sqlite, "user", (sql) => sql.replace(`"password" varchar(255) NOT NULL`, `"password" varchar(255)`));
    sqlite.exec("COMMIT");
    await webAuthnTable();
    await ds.query(record);
  } else if (kind === "postgres") {
    const runner = ds.createQueryRunner();
    await runner.query("BEGIN");
    await runner.query(`CREATE UNIQUE INDEX "IDX_security_email_ci" ON "user" (lower("email"))`);
    await runner.query(`ALTER TABLE "user" ADD COLUMN "fs_webauthn_user_handle" character varying(64) DEFAULT encode(gen_random_bytes(32), 'hex'),
      ADD COLUMN "mf_recovery_codes" text, ALTER COLUMN "password" DROP NOT NULL`);
    await runner.query(`ALTER TABLE "user" ALTER COLUMN "fs_webauthn_user_handle" DROP DEFAULT`);
    await runner.query(`CREATE UNIQUE INDEX "${idx("us_phone_number")}" ON "user" ("us_phone_number")`);
    await runner.query(`CREATE UNIQUE INDEX "${idx("fs_webauthn_user_handle")}" ON "user" ("fs_webauthn_user_handle")`);
    await runner.query("COMMIT");
    await runner.release();
    await webAuthnTable();
    await ds.query(record);
  } else {
    await ds.query(`ALTER TABLE user ADD COLUMN fs_webauthn_user_handle varchar(64) NULL DEFAULT (LOWER(HEX(RANDOM_BYTES(32)))),
      ADD COLUMN mf_recovery_codes text NULL, MODIFY COLUMN password varchar(255) NULL,
      ADD UNIQUE INDEX ${idx("us_phone_number")} (us_phone_number), ADD UNIQUE INDEX ${idx("fs_webauthn_user_handle")} (fs_webauthn_user_handle), ALGORITHM=COPY`);
    await ds.query(`ALTER TABLE user ALTER COLUMN fs_webauthn_user_handle DROP DEFAULT`);
    await webAuthnTable();
    await ds.query(record);
  }
}

/** Each benchmarked upgrade: the version it starts from, the entities and migrations at its end, the raw SQL, the token column it fills. */
const BENCH_STEPS = {
  v2: {
    from: 1 as const,
    entities: [BenchUser, BenchRole],
    migrations: securityMigrationsV2,
    raw: rawV2,
    token: "fs_token_uniquifier",
    label: "V1 to V2",
  },
  v3: {
    from: 2 as const,
    entities: [BenchUserV3, BenchRole, BenchWebAuthn],
    migrations: securityMigrationsV3,
    raw: rawV3,
    token: "fs_webauthn_user_handle",
    label: "V2 to V3",
  },
};
type Step = (typeof BENCH_STEPS)[keyof typeof BENCH_STEPS];

/** Checks a finished upgrade: every user and link still there, distinct tokens, the target schema exactly. */
async function verify(ds: DataSource, step: Step): Promise<void> {
  const [row] = await ds.query(
    `SELECT COUNT(*) AS n, COUNT(DISTINCT ${step.token}) AS tokens, MIN(LENGTH(${step.token})) AS len,
            SUM(CASE WHEN update_datetime = '2024-01-02 03:04:05.678' THEN 1 ELSE 0 END) AS kept FROM ${ds.driver.escape("user")}`,
  );
  const [links] = await ds.query(`SELECT COUNT(*) AS n FROM roles_users`);
  const drift = (await ds.driver.createSchemaBuilder().log()).upQueries;
  const problems = [
    Number(row.n) !== USERS && `users ${row.n}`,
    Number(row.tokens) !== USERS && `distinct tokens ${row.tokens}`,
    Number(row.len) !== 64 && `token length ${row.len}`,
    Number(row.kept) !== USERS && `update_datetime kept on ${row.kept} rows`,
    Number(links.n) !== USERS && `links ${links.n}`,
    drift.length > 0 && `drift: ${drift.map((q) => q.query).join("; ")}`,
  ].filter(Boolean);
  if (problems.length > 0) throw new Error(`verification failed: ${problems.join(", ")}`);
}

async function measure(kind: DatabaseKind, step: Step, variant: "ours" | "raw"): Promise<number> {
  const db = new TestDatabase(kind);
  await db.create();
  try {
    if (kind === "postgres") {
      const admin = await db.dataSource([]);
      await admin.query(`CREATE EXTENSION IF NOT EXISTS pgcrypto`);
      await admin.destroy();
    }
    await fill(db, step.from);
    const ds = await db.dataSource(step.entities, { migrations: step.migrations });
    const start = process.hrtime.bigint();
    if (variant === "ours") await ds.runMigrations({ transaction: "all" });
    else await step.raw(ds, kind);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    await verify(ds, step);
    return seconds;
  } finally {
    await db.drop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const down = await probeServers();
  for (const name of STEPS) {
    const step = BENCH_STEPS[name];
    console.log(`\n${step.label} migration, ${USERS.toLocaleString("en")} users with one role each, ${RUNS} runs per variant, medians\n`);
    console.log("| database | shipped migration (s) | raw SQL (s) | ratio | runs: ours / raw (s) |");
    console.log("|---|---|---|---|---|");
    for (const kind of KINDS) {
      if (down[kind]) {
        console.log(`| ${kind} | skipped: ${down[kind]} | | | |`);
        continue;
      }
      const times = { ours: [] as number[], raw: [] as number[] };
      for (let run = 0; run < RUNS; run++) {
        const order: Array<"ours" | "raw"> = run % 2 === 0 ? ["ours", "raw"] : ["raw", "ours"];
        for (const variant of order) times[variant].push(await measure(kind, step, variant));
      }
      const ours = median(times.ours);
      const raw = median(times.raw);
      const runs = `${times.ours.map((t) => t.toFixed(2)).join(", ")} / ${times.raw.map((t) => t.toFixed(2)).join(", ")}`;
      console.log(`| ${kind} | ${ours.toFixed(2)} | ${raw.toFixed(2)} | ${(ours / raw).toFixed(2)} | ${runs} |`);
    }
  }
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
