/**
 * UserMixinV4: the `user` table of Flask-Security's fsqla v4 (`flask_security.models.fsqla_v4`,
 * Flask-Security 5.9) plus the token uniquifier, with its refresh trackers (RefreshTrackerMixinV1).
 *
 * FROZEN: this file is a released schema version. A new need is a new version with its own migration,
 * never an edit here.
 *
 * Differences from version 3: no user column changes; the `refreshTrackers` relation and the
 * `fs_refresh_tracker` table it leads to (SECURITY_REFRESH_TOKEN).
 */
import { OneToMany } from "typeorm";
import { UserMixinV3 } from "./v3";
import type { RefreshTrackerMixinV1 } from "../refresh/v1";

/** Abstract base of an app's User entity at schema version 4 (fsqla v4 + token uniquifier). */
export abstract class UserMixinV4 extends UserMixinV3 {
  /**
   * The user's refresh-token families. Targets the entity named `FsRefreshTracker`
   * (fsqla v4's class name, whose table TypeORM calls `fs_refresh_tracker`); an app whose class has
   * another name redeclares it: `@OneToMany(() => Tracker, (t) => t.user) declare refreshTrackers: Tracker[];`.
   * Create, exchange and revoke them through the datastore, which does each atomically.
   */
  @OneToMany("FsRefreshTracker", "user")
  refreshTrackers!: RefreshTrackerMixinV1[];
}
