/**
 * SQLite datetimes as Flask-Security (SQLAlchemy 1.4) writes and reads them: `withNaiveUtc` makes TypeORM
 * write `YYYY-MM-DD HH:MM:SS.ffffff` (SQLAlchemy takes the fraction digits as microseconds, so TypeORM's
 * `.123` would read as 123 µs) and read naive text with any fraction as UTC (TypeORM alone reads a 6-digit
 * fraction as local time). The process runs in America/New_York (global setup), where either bug shows.
 */
import { mkdtempSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { DataSource } from "typeorm";
import { SecurityDatastore, withNaiveUtc } from "../src";
import { Role, User } from "./fixtures/app-v2";

describe(`SQLite datetimes in Flask-Security's format (TZ=${process.env.TZ})`, () => {
  const dir = mkdtempSync(join(tmpdir(), "tsm-dt-"));
  let ds: DataSource;
  const options = { type: "better-sqlite3" as const, database: join(dir, "test.db"), entities: [User, Role] };
  const save = (on: DataSource, fields: Partial<User>) => on.getRepository(User).save(on.getRepository(User).create(fields));
  const stored = async (id: number, column = "confirmed_at"): Promise<string> =>
    (await ds.query(`SELECT ${column} AS v FROM user WHERE id = ?`, [id]))[0].v;

  beforeAll(async () => {
    ds = await new DataSource(withNaiveUtc({ ...options, synchronize: true })).initialize();
  });
  afterAll(async () => {
    await ds.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a saved Date is stored with six fraction digits", async () => {
    const user = await save(ds, { email: "a@example.com", password: "h", confirmedAt: new Date("2024-03-10T02:30:00.123Z") });
    expect(await stored(user.id)).toBe("2024-03-10 02:30:00.123000");
  });

  it.each([
    ["2024-01-02 03:04:05.123456", "2024-01-02T03:04:05.123Z"], // Flask-Security's utcnow()
    ["2024-01-02 03:04:05", "2024-01-02T03:04:05.000Z"], // SQLite's CURRENT_TIMESTAMP default
    ["2024-01-02 03:04:05.123", "2024-01-02T03:04:05.123Z"], // written by TypeORM before withNaiveUtc
    ["2024-03-10 02:30:00.500000", "2024-03-10T02:30:00.500Z"], // does not exist as New York wall clock
  ])("stored %s reads as %s", async (text, iso) => {
    const [{ id }] = await ds.query(
      `INSERT INTO user (email, password, active, fs_uniquifier, fs_token_uniquifier, confirmed_at) VALUES (?, 'h', 1, ?, ?, ?) RETURNING id`,
      [`${text}@example.com`, text, text, text],
    );
    const user = await ds.getRepository(User).findOneByOrFail({ id });
    expect(user.confirmedAt!.toISOString()).toBe(iso);
  });

  it("a Date in a query-builder condition matches the stored text", async () => {
    const at = new Date("2025-05-06T07:08:09.010Z");
    const user = await save(ds, { email: "where@example.com", password: "h", confirmedAt: at });
    expect(await ds.getRepository(User).findOneBy({ confirmedAt: at })).toMatchObject({ id: user.id });
  });

  it("the datastore's one-statement login record writes six digits too", async () => {
    const store = new SecurityDatastore(ds, User, Role);
    const user = await store.createUser({ email: "login@example.com", password: "h" });
    await store.recordLogin(user, "192.0.2.1", new Date("2025-01-01T00:00:00.250Z"));
    expect(await stored(user.id, "current_login_at")).toBe("2025-01-01 00:00:00.250000");
  });

  it("a DataSource without withNaiveUtc keeps TypeORM's own format", async () => {
    const plain = await new DataSource(options).initialize();
    try {
      const user = await save(plain, { email: "plain@example.com", password: "h", confirmedAt: new Date("2024-03-10T02:30:00.123Z") });
      expect(await stored(user.id)).toBe("2024-03-10 02:30:00.123");
    } finally {
      await plain.destroy();
    }
  });
});
