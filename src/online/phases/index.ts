/**
 * The phases of the online steps: `tables.ts` for a step that only creates tables; for a step that changes
 * the user table, a context built once (`context.ts`) and a file per phase, in the step's order: `check`,
 * `expand`, `backfill`, `indexes`, `not-null`, `complete`. `shared.ts` holds what both kinds share.
 */
import type { OnlineSession } from "../session";
import type { ColumnsStep, UpgradeStep } from "../steps";
import type { Settings } from "../upgrade";
import { backfillPhase } from "./backfill";
import { checkPhase } from "./check";
import { completePhase } from "./complete";
import { columnsStepContext, type ColumnsPhase } from "./context";
import { expandPhase } from "./expand";
import { indexesPhase } from "./indexes";
import { needsNotNullPhase, notNullPhase } from "./not-null";
import type { Phase } from "./shared";
import { tablesStepPhases } from "./tables";

export { missingTables, recordedMigrations, type Phase } from "./shared";

/** The phases of a step that changes the user table, in order, for its dialect. */
async function columnsStepPhases(session: OnlineSession, step: ColumnsStep, options: Settings): Promise<Phase[]> {
  const context = await columnsStepContext(session, step);
  const phases: ColumnsPhase[] = [checkPhase, expandPhase, backfillPhase, indexesPhase];
  if (needsNotNullPhase(context)) phases.push(notNullPhase);
  phases.push(completePhase);
  return phases.map((phase) => phase(context, options));
}

/** The phases of one step, for its kind and dialect. */
export function stepPhases(session: OnlineSession, step: UpgradeStep, options: Settings): Promise<Phase[]> {
  return step.kind === "tables" ? tablesStepPhases(session, step) : columnsStepPhases(session, step, options);
}
