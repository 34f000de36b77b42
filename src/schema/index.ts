/** Schema machinery shared by the shipped migrations. */
export { appSecurityTables, SecurityEntitiesNotFoundError } from "./app-tables";
export type { SecurityTableNames } from "./app-tables";
export { frozenSchema } from "./frozen";
export { addColumns, createTables, dropColumns, dropTables, explainDuplicates, MigrationBlockedError } from "./operations";
