/** Schema machinery shared by the shipped migrations. */
export { appSecurityTables, defaultTableNames, requireUserEntityAt, SecurityEntitiesNotFoundError } from "./app-tables";
export type { SecurityTableNames } from "./app-tables";
export { frozenSchema } from "./frozen";
export { MigrationBlockedError } from "../errors";
export {
  addCaseInsensitiveUnique,
  addColumns,
  allOrNothing,
  caseInsensitiveUniqueRepair,
  createCheckedTables,
  createTables,
  dropColumns,
  dropIndexIfExists,
  dropTables,
  explainDuplicates,
  setNotNull,
  tablesToCreate,
} from "./operations";
