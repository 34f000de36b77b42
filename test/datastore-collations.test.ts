/**
 * The sign-up duplicate check asks the database's own comparison (its index) whenever that comparison folds
 * what the value needs, and scans (a LIKE over the lower-cased column) only when it does not. For an ASCII
 * value with `i` or `k`, whose variants may hold `İ` (U+0130) or the Kelvin sign (U+212A), as measured on
 * MariaDB 10.11: `utf8mb4_unicode_ci` folds both, and so does LOWER() under `utf8mb4_bin`; `utf8mb4_general_ci`
 * folds `İ` but not the Kelvin sign; SQLite's NOCASE folds ASCII only. On each, the variants are still
 * refused and the stored user still found.
 */
import type { DataSource, Logger } from "typeorm";
import { DuplicateValueError, SecurityDatastore } from "../src";
import { securityMigrationsV3 } from "../migrations";
import { appAddDisplayName } from "./fixtures/app-migrations";
import { Role, User, WebAuthn } from "./fixtures/app-v3";
import { describeOnDatabase } from "./support/database";
import type { TestDatabase } from "./support/database";

const HASH = "$2b$12$collation-test-hash";

/** Keeps the statements sent while `recording` is on. */
class StatementRecorder implements Logger {
  readonly statements: string[] = [];
  recording = false;
  logQuery(query: string): void {
    if (this.recording) this.statements.push(query);
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}
}

/** Per database and collation: whether a value with an `i` (no `k`), and one with a `k`, is checked by a scan. */
const TARGETS: Array<{ kind: "mariadb" | "sqlite"; collation?: string; scans: { i: boolean; k: boolean } }> = [
  { kind: "mariadb", collation: "utf8mb4_general_ci", scans: { i: false, k: true } },
  { kind: "mariadb", collation: "utf8mb4_unicode_ci", scans: { i: false, k: false } },
  { kind: "mariadb", collation: "utf8mb4_bin", scans: { i: false, k: false } },
  { kind: "sqlite", scans: { i: true, k: true } },
];

for (const target of TARGETS) {
  describeOnDatabase(target.kind, `sign-up duplicate check, email ${target.collation ?? "COLLATE NOCASE"}`, (db: TestDatabase) => {
    let ds: DataSource;
    let store: SecurityDatastore<User, Role>;
    const recorder = new StatementRecorder();

    beforeAll(async () => {
      const migrated = await db.dataSource([User, Role, WebAuthn], { migrations: [...securityMigrationsV3, appAddDisplayName("user")] });
      await migrated.runMigrations();
      if (target.collation) await migrated.query(`ALTER TABLE \`user\` MODIFY \`email\` varchar(255) NOT NULL COLLATE ${target.collation}`);
      await migrated.destroy();
      ds = await db.dataSource([User, Role, WebAuthn], { logger: recorder, logging: ["query"] });
      store = new SecurityDatastore(ds, User, Role);
    });

    /** One sign-up, recording its statements. */
    const emailReads = async (email: string) => {
      recorder.statements.length = 0;
      recorder.recording = true;
      try {
        return { result: await store.createUser({ email, password: HASH }).catch((error: Error) => error) };
      } finally {
        recorder.recording = false;
      }
    };
    const readsOfEmail = () =>
      recorder.statements.filter((s) => /^SELECT/i.test(s) && /`email`|"email"/.test(s) && !/information_schema/i.test(s));

    it.each([
      ["i", "ivy.lin@example.com"],
      ["k", "kurt.mark@example.com"],
    ] as const)(
      "an ASCII email with %s and not the other: a scan only where the comparison does not fold its variant",
      async (letter, email) => {
        const { result } = await emailReads(email);
        expect(result).toBeInstanceOf(User);
        const reads = readsOfEmail();
        expect(reads.length).toBeGreaterThan(0);
        expect(reads.some((s) => /\bLIKE\b/.test(s))).toBe(target.scans[letter]);
      },
    );

    it("an ASCII email with neither i nor k is checked by the database's comparison everywhere", async () => {
      const { result } = await emailReads("bob.dur@example.com");
      expect(result).toBeInstanceOf(User);
      expect(readsOfEmail().some((s) => /\bLIKE\b/.test(s))).toBe(false);
    });

    it.each([
      ["İ (U+0130) for i", "izmir.kaya@example.com", "İZMİR.KAYA@example.com"],
      ["the Kelvin sign for k", "\u212Aate.smith@example.com", "kate.smith@example.com"],
      ["ASCII upper case", "ingrid.kirk@example.com", "INGRID.KIRK@example.com"],
    ])("%s: the variant is refused by the datastore and finds the stored user", async (_, stored, variant) => {
      const user = await store.createUser({ email: stored, password: HASH });
      const { result } = await emailReads(variant);
      expect(result).toBeInstanceOf(DuplicateValueError);
      expect([(result as DuplicateValueError).field, (result as Error).message]).toEqual([
        "email",
        "User.email: another user already has this email (compared in any letter case)",
      ]);
      expect((await store.findUserByEmail(stored))?.id).toBe(user.id);
    });

    if (target.collation) {
      it("the column has the collation under test", async () => {
        const [row] = await ds.query(
          `SELECT COLLATION_NAME AS collation FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'user' AND COLUMN_NAME = 'email'`,
        );
        expect(row.collation).toBe(target.collation);
      });
    }
  });
}
