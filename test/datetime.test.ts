/**
 * Datetimes keep their instant whatever the process's time zone, and are stored as naive UTC (what
 * Flask-Security writes and reads). The test run's global setup puts the process in America/New_York (or
 * TSM_TEST_TZ); the instants include one whose UTC wall clock does not exist in New York (the
 * spring-forward gap) and one it has twice.
 */
import type { DataSource, Repository } from "typeorm";
import { Role, User } from "./fixtures/app-v2";
import { describeEachDatabase } from "./support/database";

// Leap days too: a parser that builds the date in another year first (Date.UTC maps 0-99 to 1900-1999,
// not a leap year) rolls 29 February over to 1 March.
const INSTANTS = [
  "2024-03-10T02:30:00.123Z",
  "2024-11-03T01:30:00.456Z",
  "2024-07-01T12:00:00.789Z",
  "1999-12-31T23:59:59.999Z",
  "2052-02-29T04:45:12.039Z",
  "2000-02-29T00:00:00.001Z",
];

/** `2024-03-10T02:30:00.123Z` → `2024-03-10 02:30:00.123`: the naive UTC text the row must hold. */
const naiveUtc = (iso: string) => iso.replace("T", " ").replace("Z", "");

describeEachDatabase(`naive UTC datetimes in TZ=${process.env.TZ}`, (db) => {
  let ds: DataSource;
  let users: Repository<User>;

  const storedText = async (column: string, id: number): Promise<string> => {
    const sql = {
      sqlite: `SELECT ${column} AS v FROM user WHERE id = ?`,
      postgres: `SELECT to_char(${column}, 'YYYY-MM-DD HH24:MI:SS.MS') AS v FROM "user" WHERE id = $1`,
      mariadb: `SELECT DATE_FORMAT(${column}, '%Y-%m-%d %H:%i:%s.%f') AS v FROM user WHERE id = ?`,
    }[db.kind];
    return (await ds.query(sql, [id]))[0].v;
  };

  beforeAll(async () => {
    ds = await db.dataSource([User, Role], { synchronize: true });
    users = ds.getRepository(User);
  });

  it("runs away from UTC (the premise of this file)", () => {
    const offsets = ["2024-01-15T12:00:00Z", "2024-07-15T12:00:00Z"].map((d) => new Date(d).getTimezoneOffset());
    expect(offsets.every((offset) => offset !== 0)).toBe(true);
  });

  it.each(INSTANTS)("%s is stored as its UTC wall clock and read back as the same instant", async (iso) => {
    const saved = await users.save(
      users.create({ email: `t${Date.parse(iso)}@example.com`, password: "hash", confirmedAt: new Date(iso) }),
    );
    expect((await storedText("confirmed_at", saved.id)).slice(0, 23)).toBe(naiveUtc(iso));
    const loaded = await users.findOneByOrFail({ id: saved.id });
    expect(loaded.confirmedAt!.toISOString()).toBe(iso);
  });

  it("database defaults (create_datetime) are UTC too", async () => {
    const before = Date.now();
    const saved = await users.save(users.create({ email: "now@example.com", password: "hash" }));
    const after = Date.now();
    const loaded = await users.findOneByOrFail({ id: saved.id });
    // SQLite's and MariaDB's defaults have whole seconds at worst; allow that much either side.
    expect(loaded.createDatetime.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(loaded.createDatetime.getTime()).toBeLessThanOrEqual(after + 1000);
    const text = await storedText("create_datetime", saved.id);
    expect(Math.abs(Date.parse(text.replace(" ", "T") + "Z") - before)).toBeLessThan(2000 + (after - before));
  });

  it("every pooled session runs in UTC, so NOW() and CURRENT_TIMESTAMP are UTC", async () => {
    if (db.kind === "sqlite") return expect((await ds.query(`SELECT CURRENT_TIMESTAMP AS v`))[0].v).toMatch(/^\d{4}-/);
    const sql =
      db.kind === "postgres" ? `SELECT current_setting('TimeZone') AS tz, pg_sleep(0.05)` : `SELECT @@session.time_zone AS tz, SLEEP(0.05)`;
    // Parallel queries spread over several pooled connections, including the first one TypeORM opened.
    const zones = await Promise.all(Array.from({ length: 6 }, async () => (await ds.query(sql))[0].tz));
    expect(new Set(zones)).toEqual(new Set([db.kind === "postgres" ? "UTC" : "+00:00"]));
  });
});
