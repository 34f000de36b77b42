/**
 * `not-null` (PostgreSQL, a token that ends NOT NULL): NOT NULL through a `CHECK … NOT VALID` constraint
 * validated without blocking writes, so SET NOT NULL need not scan the table. SQLite sets NOT NULL in
 * `complete`; MariaDB/MySQL add such a token NOT NULL at once (see `tokenPlaceholder`).
 */
import type { ColumnsStepContext } from "./context";
import { temporaryName, type Phase } from "./shared";

/** Whether the step has a `not-null` phase: PostgreSQL, and a token that ends NOT NULL. */
export function needsNotNullPhase({ dialect, tokenStaysNullable }: ColumnsStepContext): boolean {
  return dialect === "postgres" && !tokenStaysNullable;
}

/** The `not-null` phase of the step (only where `needsNotNullPhase`). */
export function notNullPhase({ session, step, quote: q, table, token }: ColumnsStepContext): Phase {
  const constraint = q(temporaryName("not_null", step.token));
  const notNullState = async () => {
    const [row] = await session.query(
      `SELECT a.attnotnull AS notnull, (SELECT c.convalidated FROM pg_constraint c WHERE c.conrelid = a.attrelid AND c.conname = $2) AS checked
         FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attname = $3`,
      [table, temporaryName("not_null", step.token), step.token.databaseName],
    );
    return { notNull: row?.notnull === true, check: row?.checked as boolean | null };
  };
  return {
    migration: step.migration,
    phase: "not-null",
    beforeDeploy: true,
    description: `make ${step.token.databaseName} NOT NULL: a CHECK constraint added NOT VALID, validated while writes go on, then SET NOT NULL without a scan`,
    statements: [
      `ALTER TABLE ${table} ADD CONSTRAINT ${constraint} CHECK (${token} IS NOT NULL) NOT VALID`,
      `ALTER TABLE ${table} VALIDATE CONSTRAINT ${constraint}`,
      `ALTER TABLE ${table} ALTER COLUMN ${token} SET NOT NULL`,
      `ALTER TABLE ${table} DROP CONSTRAINT ${constraint}`,
    ],
    isDone: async () => {
      const state = await notNullState();
      return state.notNull && state.check === null;
    },
    run: async () => {
      let state = await notNullState();
      if (!state.notNull) {
        if (state.check === null)
          await session.ddl(
            `check constraint on ${step.token.databaseName}`,
            `ALTER TABLE ${table} ADD CONSTRAINT ${constraint} CHECK (${token} IS NOT NULL) NOT VALID`,
          );
        state = await notNullState();
        if (state.check === false)
          await session.ddl(`validate ${step.token.databaseName}`, `ALTER TABLE ${table} VALIDATE CONSTRAINT ${constraint}`, false);
      }
      await session.transaction(`NOT NULL on ${step.token.databaseName}`, async () => {
        await session.query(`ALTER TABLE ${table} ALTER COLUMN ${token} SET NOT NULL`);
        await session.query(`ALTER TABLE ${table} DROP CONSTRAINT IF EXISTS ${constraint}`);
      });
    },
  };
}
