/**
 * Refresh trackers for the fault trials' version-4 snapshot: a killed V4 down must leave every tracker as it
 * was or drop the table, and a killed V3→V4 up must leave the V3 rows alone. Every column is filled, with
 * datetimes that have fractions of a second and half of the families revoked.
 */
import { randomBytes } from "crypto";
import type { DataSource } from "typeorm";
import * as v4 from "../../fixtures/app-v4";

/** The columns of `fs_refresh_tracker` (RefreshTrackerMixinV1), every one compared by the trials. */
export const REFRESH_TRACKER_COLUMNS = [
  "id",
  "refresh_family",
  "gen",
  "expires_at",
  "revoked_at",
  "last_used_at",
  "create_datetime",
  "name",
  "user_id",
] as const;

/** Gives every user whose id is `every`-th a tracker, in batches (`ds` holds the V4 entities). */
export async function fillRefreshTrackers(ds: DataSource, every = 2): Promise<number> {
  const ids: Array<{ id: number }> = await ds.query(`SELECT id FROM ${ds.driver.escape("user")} ORDER BY id`);
  const owners = ids.filter(({ id }) => id % every === 0);
  const base = Date.UTC(2031, 0, 1, 12, 0, 0);
  for (let start = 0; start < owners.length; start += 500) {
    const rows = owners.slice(start, start + 500).map(({ id }) => ({
      refreshFamily: randomBytes(32).toString("hex"),
      gen: 1 + (id % 7),
      expiresAt: new Date(base + id * 1_001),
      revokedAt: id % 4 === 0 ? new Date(base - id * 997) : null,
      lastUsedAt: new Date(base - id * 1_003),
      createDatetime: new Date(base - id * 2_011),
      name: `device ${id}`,
      userId: id,
    }));
    await ds.createQueryBuilder().insert().into(v4.FsRefreshTracker).values(rows).execute();
  }
  return owners.length;
}
