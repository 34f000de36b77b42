/**
 * The refresh-token side of the load trial (schema version 4): trackers created, exchanged, replayed,
 * raced, revoked and users' access reset, mixed with sign-ins, on users of their own, in a seeded random
 * order, beside the sign-ins and role changes of `LoadState`. A client holds a family's current generation,
 * as a refresh token would; the operations on one user's trackers run in the order they were drawn (as one
 * client's requests do), while the races send several exchanges of one generation at once, as a stolen
 * token used by the thief and the owner together does. Afterwards the database must agree exactly:
 * - every tracker created is there once (none lost, none doubled), at the generation its acknowledged
 *   exchanges reached, revoked exactly when a revoke, a reset or a detected reuse said so;
 * - each generation of a family was exchanged at most once, and every race on a valid family had exactly
 *   one winner, every other racer told `reused`;
 * - every sign-in counted, and each reset user's uniquifier is the one its last reset set.
 */
import type { DataSource } from "typeorm";
import type { SecurityDatastore } from "../../../src";
import type { Role, User } from "../../fixtures/app-v4";
import { draw } from "./load";

type Kind = "login" | "create" | "exchange" | "replay" | "race" | "revoke" | "exchangeVersusRevoke" | "reset";
type Store = SecurityDatastore<User, Role>;

/** How often each operation is drawn. */
const MIX: Array<[Kind, number]> = [
  ["login", 25],
  ["create", 12],
  ["exchange", 28],
  ["replay", 8],
  ["race", 12],
  ["revoke", 7],
  ["exchangeVersusRevoke", 5],
  ["reset", 3],
];
const HASH = "$2b$12$load-test-hash-load-test-hash-load-test-hash-load-test-ha";
const DAY_MS = 86_400_000;

/** What a client knows of one family: the generation it holds and whether it has been told it is revoked. */
interface Family {
  user: number;
  gen: number;
  revoked: boolean;
}

/** What `RefreshLoad.check` finds when nothing is wrong. */
export const NOTHING_WRONG_WITH_REFRESH = {
  failures: [],
  unexpectedOutcomes: [],
  lostTrackers: 0,
  strayTrackers: 0,
  wrongGenerations: [],
  wrongRevocations: [],
  generationsWithTwoWinners: [],
  racesWithoutOneWinner: [],
  lostLogins: [],
  staleUniquifiers: [],
};

export class RefreshLoad {
  readonly counts: Record<Kind, number> = {
    login: 0,
    create: 0,
    exchange: 0,
    replay: 0,
    race: 0,
    revoke: 0,
    exchangeVersusRevoke: 0,
    reset: 0,
  };
  /** Exchanges answered, by outcome (races included). */
  readonly outcomes: Record<string, number> = {};
  readonly failures: string[] = [];
  readonly unexpectedOutcomes: string[] = [];
  readonly racesWithoutOneWinner: string[] = [];
  private readonly families = new Map<string, Family>();
  private readonly winners = new Map<string, number>();
  private readonly logins = new Map<number, number>();
  private readonly resetTo = new Map<number, string>();
  private readonly queues = new Map<number, Promise<unknown>>();
  private validRaces = 0;

  private constructor(
    private readonly store: Store,
    readonly users: User[],
  ) {}

  /** Creates `users` users (named with `prefix`), each with one tracker. */
  static async create(store: Store, users: number, prefix = "refresh"): Promise<RefreshLoad> {
    const created: User[] = [];
    for (let i = 0; i < users; i++) created.push(await store.createUser({ email: `${prefix}${i}@example.com`, password: HASH }));
    const load = new RefreshLoad(store, created);
    for (const user of created) await load.newFamily(user);
    return load;
  }

  /** Runs `operations` operations drawn with `random`, `concurrency` at a time; returns the seconds taken. */
  async run(operations: number, concurrency: number, random: () => number): Promise<number> {
    const plan = Array.from({ length: operations }, (_, n) => ({
      n,
      kind: draw(MIX, random),
      user: this.users[Math.floor(random() * this.users.length)],
      pick: random(),
      racers: 2 + Math.floor(random() * 3),
    }));
    const queue = [...plan];
    const started = Date.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          const { n, kind, user, pick, racers } = next;
          this.counts[kind]++;
          const operation =
            kind === "login"
              ? this.store.recordLogin(user, `10.1.${n % 256}.1`).then(() => this.logins.set(user.id, (this.logins.get(user.id) ?? 0) + 1))
              : this.inTurn(user.id, () => this.one(kind, user, pick, racers));
          await operation.catch((error: Error) => this.failures.push(`${kind} #${n}: ${error.name}: ${error.message}`));
        }
      }),
    );
    return (Date.now() - started) / 1000;
  }

  /** Runs `work` after every earlier operation drawn for the same user: one client's requests, in order. */
  private inTurn(user: number, work: () => Promise<void>): Promise<void> {
    const turn = (this.queues.get(user) ?? Promise.resolve()).then(work, work);
    this.queues.set(
      user,
      turn.catch(() => undefined),
    );
    return turn;
  }

  private async newFamily(user: User): Promise<string> {
    const tracker = await this.store.createRefreshTracker(user, { name: "load", expiresAt: new Date(Date.now() + DAY_MS) });
    this.families.set(tracker.refreshFamily, { user: user.id, gen: 1, revoked: false });
    return tracker.refreshFamily;
  }

  private familyOf(user: User, pick: number): [string, Family] | undefined {
    const mine = [...this.families].filter(([, f]) => f.user === user.id);
    return mine[Math.floor(pick * mine.length)];
  }

  /** Sends an exchange and counts its outcome; a winner's generation is counted per family. */
  private async exchange(family: string, gen: number) {
    const result = await this.store.exchangeRefreshTracker(family, gen);
    this.outcomes[result.outcome] = (this.outcomes[result.outcome] ?? 0) + 1;
    if (result.outcome === "exchanged") this.winners.set(`${family}@${gen}`, (this.winners.get(`${family}@${gen}`) ?? 0) + 1);
    return result;
  }

  private expect(what: string, got: string, want: string): void {
    if (got !== want) this.unexpectedOutcomes.push(`${what}: ${got}, expected ${want}`);
  }

  private async one(kind: Exclude<Kind, "login">, user: User, pick: number, racers: number): Promise<void> {
    if (kind === "create") {
      await this.newFamily(user);
      return;
    }
    if (kind === "reset") {
      await this.store.resetUserAccess(user);
      this.resetTo.set(user.id, user.fsUniquifier);
      for (const family of this.families.values()) if (family.user === user.id) family.revoked = true;
      return;
    }
    const chosen = this.familyOf(user, pick);
    if (!chosen) return this.newFamily(user).then(() => undefined);
    const [family, state] = chosen;
    switch (kind) {
      case "exchange": {
        const { outcome } = await this.exchange(family, state.gen);
        this.expect("exchange", outcome, state.revoked ? "revoked" : "exchanged");
        if (outcome === "exchanged") state.gen++;
        return;
      }
      case "replay": {
        if (state.gen === 1) return; // no older token yet
        // A token of an older generation: a stolen or replayed one. The family is revoked at once.
        const { outcome } = await this.exchange(family, state.gen - 1);
        this.expect("replay", outcome, "reused");
        state.revoked = true;
        return;
      }
      case "race": {
        const results = await Promise.all(Array.from({ length: racers }, () => this.exchange(family, state.gen)));
        const won = results.filter((r) => r.outcome === "exchanged").length;
        if (state.revoked) {
          for (const r of results) this.expect("race on a revoked family", r.outcome, "revoked");
          return;
        }
        this.validRaces++;
        if (won !== 1 || results.some((r) => r.outcome !== "exchanged" && r.outcome !== "reused"))
          this.racesWithoutOneWinner.push(`${racers} racers: ${results.map((r) => r.outcome).join(", ")}`);
        state.gen += won;
        // The losers presented a generation that had just been used: reuse, so the family is revoked.
        if (won === 1 && racers > 1) state.revoked = true;
        return;
      }
      case "revoke": {
        const revoked = await this.store.revokeRefreshTracker(family);
        this.expect("revoke", String(revoked), String(!state.revoked));
        state.revoked = true;
        return;
      }
      case "exchangeVersusRevoke": {
        const [{ outcome }, revoked] = await Promise.all([this.exchange(family, state.gen), this.store.revokeRefreshTracker(family)]);
        if (state.revoked) {
          this.expect("exchange beside a revoke, revoked family", outcome, "revoked");
          this.expect("revoke beside an exchange, revoked family", String(revoked), "false");
        } else {
          // Either order is right: exchanged then revoked, or revoked first.
          if (outcome !== "exchanged" && outcome !== "revoked") this.unexpectedOutcomes.push(`exchange beside a revoke: ${outcome}`);
          this.expect("revoke beside an exchange", String(revoked), "true");
          if (outcome === "exchanged") state.gen++;
        }
        state.revoked = true;
        return;
      }
    }
  }

  /** What the database disagrees with (each list names the trackers, races or users that are wrong). */
  async check(ds: DataSource) {
    const q = (name: string) => ds.driver.escape(name);
    const ours = new Set(this.users.map((u) => u.id));
    const rows: Array<{ refresh_family: string; gen: number; revoked_at: unknown; user_id: number }> = await ds.query(
      `SELECT refresh_family, gen, revoked_at, user_id FROM ${q("fs_refresh_tracker")}`,
    );
    const stored = rows.filter((r) => ours.has(Number(r.user_id)));
    const byFamily = new Map(stored.map((r) => [r.refresh_family, r]));
    const lostTrackers = [...this.families.keys()].filter((f) => !byFamily.has(f)).length;
    const strayTrackers = stored.length - (this.families.size - lostTrackers);
    const wrongGenerations: string[] = [];
    const wrongRevocations: string[] = [];
    for (const [family, state] of this.families) {
      const row = byFamily.get(family);
      if (!row) continue;
      if (Number(row.gen) !== state.gen) wrongGenerations.push(`user ${state.user}: stored ${row.gen}, acknowledged ${state.gen}`);
      if ((row.revoked_at !== null) !== state.revoked)
        wrongRevocations.push(`user ${state.user}: stored ${row.revoked_at === null ? "valid" : "revoked"}`);
    }
    const generationsWithTwoWinners = [...this.winners].filter(([, n]) => n > 1).map(([key, n]) => `${key.split("@")[1]}: ${n}`);
    const users: Array<{ id: number; login_count: number | null; fs_uniquifier: string }> = await ds.query(
      `SELECT id, login_count, fs_uniquifier FROM ${q("user")}`,
    );
    const mine = users.filter((u) => ours.has(Number(u.id)));
    const lostLogins = mine.filter((u) => Number(u.login_count ?? 0) !== (this.logins.get(Number(u.id)) ?? 0)).map((u) => u.id);
    const staleUniquifiers = mine
      .filter((u) => this.resetTo.has(Number(u.id)) && this.resetTo.get(Number(u.id)) !== u.fs_uniquifier)
      .map((u) => u.id);
    return {
      failures: this.failures,
      unexpectedOutcomes: this.unexpectedOutcomes,
      lostTrackers,
      strayTrackers,
      wrongGenerations,
      wrongRevocations,
      generationsWithTwoWinners,
      racesWithoutOneWinner: this.racesWithoutOneWinner,
      lostLogins,
      staleUniquifiers,
    };
  }

  /** How many trackers the run created (the initial ones included). */
  get trackers(): number {
    return this.families.size;
  }

  /** How many races ran on a valid family (each must have had exactly one winner). */
  get racesOnValidFamilies(): number {
    return this.validRaces;
  }
}
