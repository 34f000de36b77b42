/**
 * `check`: the data the new schema forbids (duplicates under its new unique rules) stops the upgrade before
 * anything changes, as the offline migration stops.
 */
import { explainDuplicates, refuseCaseDuplicates } from "../../schema/operations";
import type { ColumnsStepContext } from "./context";
import { indexesBuilt } from "./indexes";
import type { Phase } from "./shared";

/** The `check` phase of the step: done once the step is recorded or its indexes exist (the database enforces the rules). */
export function checkPhase(context: ColumnsStepContext): Phase {
  const { session, step, isRecorded } = context;
  return {
    migration: step.migration,
    phase: "check",
    beforeDeploy: true,
    description: `refuse, changing nothing, when existing rows break the new unique rules (${[
      ...step.indexes.filter((i) => i.columns.every((c) => !step.columns.includes(c))).map((i) => i.columns[0].databaseName),
      ...(step.caseInsensitive ? [`${step.caseInsensitive.column} in any letter case`] : []),
    ].join(", ")})`,
    statements: [],
    isDone: async () => (await isRecorded()) || (await indexesBuilt(context)),
    run: async () => {
      if (step.caseInsensitive)
        await refuseCaseDuplicates(session.runner, step.user, step.caseInsensitive.column, step.caseInsensitive.why);
      for (const index of step.indexes) {
        if (index.columns.some((c) => step.columns.includes(c))) continue;
        for (const column of index.columns) await explainDuplicates(session.runner, step.user, column.databaseName, step.uniqueBecause);
      }
    },
  };
}
