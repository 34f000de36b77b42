/**
 * An app instance under load during an online upgrade: through the datastore, as an app does it, it signs
 * users in (lookup by email, then the login UPDATE) and signs new users up, over and over, and counts what
 * it did in each phase of the upgrade. Any failure is kept, to be asserted on.
 */
import type { DataSource } from "typeorm";
import { SecurityDatastore } from "../../../src";
import type { RoleMixinV1 } from "../../../src";
import type { UserBase } from "../../../src/user/base";

/** What one app instance did while the upgrade was in one phase. */
export interface PhaseCounts {
  signIns: number;
  signUps: number;
}

export class AppLoad {
  readonly store: SecurityDatastore<UserBase, RoleMixinV1>;
  /** Per phase label: completed sign-ins and sign-ups. */
  readonly counts = new Map<string, PhaseCounts>();
  /** Sign-ins recorded per email, to check login_count afterwards. */
  readonly logins = new Map<string, number>();
  /** The emails this instance signed up. */
  readonly created: string[] = [];
  readonly failures: string[] = [];
  signUps = true;
  private running?: Promise<void>;
  private stopped = false;

  constructor(
    readonly label: string,
    readonly dataSource: DataSource,
    User: abstract new () => UserBase,
    Role: abstract new () => RoleMixinV1,
    /** Emails of existing users this instance signs in. */
    private readonly signInEmails: string[],
    /** The phase the upgrade is in now. */
    private readonly phase: () => string,
    /** Pause between operations, ms. */
    private readonly pauseMs = 3,
  ) {
    this.store = new SecurityDatastore(dataSource, User, Role);
  }

  /** Completed operations in `phase`. */
  in(phase: string): PhaseCounts {
    let counts = this.counts.get(phase);
    if (!counts) this.counts.set(phase, (counts = { signIns: 0, signUps: 0 }));
    return counts;
  }

  start(): void {
    this.stopped = false;
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async loop(): Promise<void> {
    let n = 0;
    while (!this.stopped) {
      n++;
      try {
        const email = this.signInEmails[n % this.signInEmails.length];
        const user = await this.store.findUserByEmail(email);
        if (!user) throw new Error(`${email} not found`);
        const phase = this.phase();
        await this.store.recordLogin(user, "192.0.2.1");
        this.logins.set(email, (this.logins.get(email) ?? 0) + 1);
        this.in(phase).signIns++;
        if (this.signUps && n % 3 === 0) {
          const created = `${this.label}-${n}@example.com`;
          const signUpPhase = this.phase();
          await this.store.createUser({ email: created, password: "$2b$12$hash" } as never);
          this.created.push(created);
          this.in(signUpPhase).signUps++;
        }
      } catch (error) {
        this.failures.push(`${this.label} in ${this.phase()}: ${(error as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, this.pauseMs));
    }
  }

  /** Resolves once this instance has signed someone in (and, while it signs up, someone up) in `phase`. */
  async waitForWork(phase: string, timeoutMs = 20_000): Promise<void> {
    const started = Date.now();
    for (;;) {
      const counts = this.in(phase);
      if (counts.signIns > 0 && (!this.signUps || counts.signUps > 0)) return;
      if (this.failures.length > 0 || Date.now() - started > timeoutMs) return;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}
