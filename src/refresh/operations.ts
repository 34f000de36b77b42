/**
 * The refresh-tracker operations of the datastore (Flask-Security 5.9's `create_refresh_tracker`,
 * `find_refresh_tracker`, `exchange_refresh_tracker`, `revoke_refresh_tracker`, `cleanup_refresh_trackers`,
 * and `reset_user_access`), each a set-based or conditional statement, so that concurrent callers cannot
 * both win:
 *
 * - an exchange is one `UPDATE … SET gen = gen + 1 WHERE refresh_family = ? AND gen = ? AND revoked_at IS NULL
 *   AND expires_at > now`, whose affected-row count says whether this caller won; the database's row lock
 *   makes every other caller of the same generation find the new one;
 * - a token presented at any other generation than the current one is a reused (stolen or replayed) token:
 *   the exchange answers `reused` and revokes the family in the same transaction, as Flask-Security's refresh
 *   view and OAuth's refresh-token rotation advise, so that neither the thief nor the owner can go on with it;
 * - a reset of a user's access is one transaction: a process killed half-way leaves the user as it was.
 *
 * Every statement runs on the primary (primary.ts), one at a time on SQLite, retried on deadlocks, and fails
 * without the statement's values (database-errors.ts): a family is never in an error or a log line.
 */
import type { DataSource, EntityManager, EntityMetadata } from "typeorm";
import { InvalidFieldsError, MissingColumnError } from "../errors";
import type { FieldProblem } from "../errors";
import { newIdentityToken } from "../tokens";
import { onTableOf, validateEntity, type Class } from "../datastore/statements";
import { unstorableFields } from "../datastore/storable";
import type { UserBase } from "../user/base";
import type { RefreshTrackerMixinV1 } from "./v1";

/**
 * What an exchange of a refresh token found. Only `exchanged` lets the app issue a new token (at
 * `tracker.gen`); every other outcome is a refusal, with the tracker (when there is one) so that the app can
 * find its user and tell them. `reused` means the family has just been revoked (or already was).
 */
export type RefreshExchange<T> =
  | { outcome: "exchanged"; tracker: T }
  | { outcome: "reused"; tracker: T }
  | { outcome: "revoked"; tracker: T }
  | { outcome: "expired"; tracker: T }
  | { outcome: "not-found" };

/** Options of an exchange. */
export interface ExchangeOptions {
  /**
   * Flask-Security's `SECURITY_REFRESH_TOKEN_MAX_IDLE` in milliseconds: a family unused for longer is
   * `expired`. Unset: no idle limit.
   */
  maxIdleMs?: number;
  /** The time to judge expiry by; now by default. */
  now?: Date;
}

/** What `cleanupRefreshTrackers` deletes. */
export interface CleanupOptions<U> {
  /** Only this user's trackers; every user's when unset. */
  user?: U;
  /** Delete the trackers whose `expires_at` has passed (default true, Flask-Security's `REFRESH_TOKEN_CLEANUP_EXPIRED`). */
  expired?: boolean;
  /** Delete the revoked trackers (default false, Flask-Security's `REFRESH_TOKEN_CLEANUP_REVOKED`). */
  revoked?: boolean;
  /** The time to judge expiry by; now by default. */
  now?: Date;
}

/** The refresh-tracker operations over the User entity's `refreshTrackers` relation. */
export class RefreshTrackerOperations<U extends UserBase> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly User: Function,
  ) {}

  /** Creates a tracker for `user`: a family from the CSPRNG, generation 1, last used now. */
  async create(user: U, fields: { name: string; expiresAt: Date }): Promise<RefreshTrackerMixinV1> {
    const metadata = this.trackers();
    const problems: FieldProblem[] = [];
    if (typeof fields !== "object" || fields === null) problems.push(problem("name", "isObject", "give { name, expiresAt }"));
    else if (!(fields.expiresAt instanceof Date) || Number.isNaN(fields.expiresAt.getTime()))
      problems.push(problem("expiresAt", "isDate", "expiresAt must be a valid Date"));
    this.refuse(metadata, [...problems, ...userIdProblems(user)]);
    // Only the two fields: a caller cannot choose the family, the generation or the owner through `fields`.
    const tracker = metadata.create() as RefreshTrackerMixinV1;
    Object.assign(tracker, { name: fields.name, expiresAt: fields.expiresAt, userId: user.id });
    tracker.refreshFamily = newIdentityToken();
    tracker.gen = 1;
    tracker.lastUsedAt = new Date();
    await validateEntity(this.dataSource, tracker, metadata.target as Class<unknown>);
    return this.on(metadata, async (manager) => {
      await manager.createQueryBuilder().insert().into(metadata.target).values(tracker).execute();
      return tracker;
    });
  }

  /** The tracker of `family`, or null. */
  async find(family: string): Promise<RefreshTrackerMixinV1 | null> {
    const metadata = this.trackers();
    this.refuse(metadata, familyProblems(family, metadata));
    return this.on(metadata, (manager) => this.byFamily(manager, metadata, family));
  }

  /** Moves the family from generation `gen` to the next, atomically; see `RefreshExchange`. */
  async exchange(family: string, gen: number, options: ExchangeOptions = {}): Promise<RefreshExchange<RefreshTrackerMixinV1>> {
    const metadata = this.trackers();
    const now = options.now ?? new Date();
    const problems = [...familyProblems(family, metadata)];
    if (!Number.isSafeInteger(gen) || gen < 1) problems.push(problem("gen", "isPositiveInteger", "gen must be a whole number from 1"));
    if (options.maxIdleMs !== undefined && !(Number.isFinite(options.maxIdleMs) && options.maxIdleMs > 0))
      problems.push(problem("maxIdleMs", "isPositive", "maxIdleMs must be a positive number of milliseconds"));
    if (!(now instanceof Date) || Number.isNaN(now.getTime())) problems.push(problem("now", "isDate", "now must be a valid Date"));
    this.refuse(metadata, problems);
    const idleSince = options.maxIdleMs === undefined ? undefined : new Date(now.getTime() - options.maxIdleMs);
    const c = this.columns(metadata);
    return this.on(metadata, (primary) =>
      // One transaction: a retry after a failure between the UPDATE and the read must not find its own
      // exchange and take it for a reuse.
      primary.transaction(async (manager) => {
        const won = await manager
          .createQueryBuilder()
          .update(metadata.target)
          .set({ gen: () => `${c.gen} + 1`, lastUsedAt: now })
          .where(
            `${c.refreshFamily} = :family AND ${c.gen} = :gen AND ${c.revokedAt} IS NULL AND ${c.expiresAt} > :now` +
              (idleSince ? ` AND ${c.lastUsedAt} > :idleSince` : ""),
            {
              family,
              gen,
              now: this.value(metadata, "expiresAt", now),
              idleSince: idleSince && this.value(metadata, "lastUsedAt", idleSince),
            },
          )
          .updateEntity(false)
          .execute();
        const tracker = await this.byFamily(manager, metadata, family);
        if (!tracker) return { outcome: "not-found" as const };
        if ((won.affected ?? 0) === 1)
          return { outcome: "exchanged" as const, tracker: Object.assign(tracker, { gen: gen + 1, lastUsedAt: now }) };
        if (tracker.gen !== gen) {
          if (tracker.revokedAt === null) {
            await this.revokeWhere(manager, metadata, `${c.refreshFamily} = :family`, { family }, now);
            tracker.revokedAt = now;
          }
          return { outcome: "reused" as const, tracker };
        }
        if (tracker.revokedAt !== null) return { outcome: "revoked" as const, tracker };
        return { outcome: "expired" as const, tracker };
      }),
    );
  }

  /** Revokes the family; true when it was valid until now (false: unknown or already revoked). */
  async revoke(family: string, now: Date = new Date()): Promise<boolean> {
    const metadata = this.trackers();
    this.refuse(metadata, familyProblems(family, metadata));
    const c = this.columns(metadata);
    return (await this.on(metadata, (manager) => this.revokeWhere(manager, metadata, `${c.refreshFamily} = :family`, { family }, now))) > 0;
  }

  /** Deletes expired and/or revoked trackers in one statement; returns how many. */
  async cleanup(options: CleanupOptions<U> = {}): Promise<number> {
    const metadata = this.trackers();
    const { expired = true, revoked = false, now = new Date(), user } = options;
    this.refuse(metadata, user === undefined ? [] : userIdProblems(user));
    if (!expired && !revoked) return 0;
    const c = this.columns(metadata);
    const which = [expired ? `${c.expiresAt} <= :now` : "", revoked ? `${c.revokedAt} IS NOT NULL` : ""].filter(Boolean).join(" OR ");
    const result = await this.on(metadata, (manager) =>
      manager
        .createQueryBuilder()
        .delete()
        .from(metadata.target)
        .where(user === undefined ? `(${which})` : `${c.userId} = :userId AND (${which})`, {
          now: this.value(metadata, "expiresAt", now),
          userId: user?.id,
        })
        .execute(),
    );
    return result.affected ?? 0;
  }

  /**
   * In `manager`'s transaction: revokes every valid tracker of the user (what `resetUserAccess` adds in
   * schema version 4). Nothing when the User entity has no `refreshTrackers` relation.
   */
  async revokeAllOf(manager: EntityManager, userId: number, now: Date): Promise<void> {
    const metadata = this.trackers(false);
    if (!metadata) return;
    await this.revokeWhere(manager, metadata, `${this.columns(metadata).userId} = :userId`, { userId }, now);
  }

  /** The tracker entity, from the User entity's `refreshTrackers` relation (UserMixinV4 and later). */
  private trackers(required?: true): EntityMetadata;
  private trackers(required: false): EntityMetadata | undefined;
  private trackers(required = true): EntityMetadata | undefined {
    const relation = this.dataSource.getMetadata(this.User).findRelationWithPropertyPath("refreshTrackers");
    if (!relation && required) {
      throw new MissingColumnError(
        this.User.name,
        "refreshTrackers",
        "missing-relation",
        "refresh trackers need the refreshTrackers relation of UserMixinV4 (schema version 4) and its FsRefreshTracker entity",
      );
    }
    return relation?.inverseEntityMetadata;
  }

  private refuse(metadata: EntityMetadata, problems: FieldProblem[]): void {
    if (problems.length > 0) throw new InvalidFieldsError(metadata.name, problems);
  }

  private on<T>(metadata: EntityMetadata, operation: (manager: EntityManager) => Promise<T>): Promise<T> {
    return onTableOf(this.dataSource, metadata.target as Class<unknown>, operation);
  }

  private byFamily(manager: EntityManager, metadata: EntityMetadata, family: string): Promise<RefreshTrackerMixinV1 | null> {
    return manager.getRepository<RefreshTrackerMixinV1>(metadata.target).findOne({ where: { refreshFamily: family } });
  }

  private async revokeWhere(
    manager: EntityManager,
    metadata: EntityMetadata,
    where: string,
    parameters: object,
    now: Date,
  ): Promise<number> {
    const c = this.columns(metadata);
    const result = await manager
      .createQueryBuilder()
      .update(metadata.target)
      .set({ revokedAt: now })
      .where(`${where} AND ${c.revokedAt} IS NULL`, parameters)
      .updateEntity(false)
      .execute();
    return result.affected ?? 0;
  }

  /** The tracker's columns by property, quoted for SQL. */
  private columns(metadata: EntityMetadata): Record<string, string> {
    return new Proxy(
      {},
      {
        get: (_, property: string) => this.dataSource.driver.escape(metadata.findColumnWithPropertyName(property)!.databaseName),
      },
    );
  }

  /** A Date as the driver stores it in `property`'s column (naive UTC), for a comparison in SQL. */
  private value(metadata: EntityMetadata, property: string, date: Date): unknown {
    return this.dataSource.driver.preparePersistentValue(date, metadata.findColumnWithPropertyName(property)!);
  }
}

function problem(field: string, rule: string, message: string): FieldProblem {
  return { field, rule, message };
}

/**
 * A family as a token carries it: a non-empty string of at most 64 characters that the database can compare
 * as given (no NUL, which PostgreSQL refuses with a raw driver error, no lone surrogate). Never quoted back.
 */
function familyProblems(family: unknown, metadata: EntityMetadata): FieldProblem[] {
  if (typeof family !== "string" || family === "")
    return [problem("refreshFamily", "isString", "refreshFamily must be a non-empty string")];
  if (family.length > 64) return [problem("refreshFamily", "maxLength", "refreshFamily must be at most 64 characters")];
  return unstorableFields(metadata, { refreshFamily: family });
}

function userIdProblems(user: unknown): FieldProblem[] {
  const id = (user as { id?: unknown } | null | undefined)?.id;
  return Number.isSafeInteger(id) ? [] : [problem("user", "isSavedUser", "user must be a saved user (with an id)")];
}
