/** typeorm-security-models: Flask-Security's user and role model as versioned TypeORM base entities. */
export { UserMixinV1 } from "./user/v1";
export { UserMixinV2 } from "./user/v2";
export { RoleMixinV1 } from "./role/v1";
export { withNaiveUtc } from "./datetime";
export { parseCommaList, formatCommaList } from "./lists";
export { newIdentityToken } from "./tokens";
export { SecurityModelError, InvalidListItemError, RolesNotLoadedError } from "./errors";
export { SecurityDatastore } from "./datastore/datastore";
export type { FindOptions, NewUser, NewRole } from "./datastore/datastore";
export { InvalidFieldsError, UnknownRoleError, DuplicateValueError, MissingColumnError } from "./errors";
export type { FieldProblem } from "./errors";
export { MigrationBlockedError, SecurityEntitiesNotFoundError } from "./schema";
export { checkSecurityModels, checkSecurityDatabase, assertSecurityModels, SecurityModelsCheckError } from "./checks/check";
export type { SecurityModelProblem, CheckOptions } from "./checks/check";
export type { SecurityFeatures, FeatureName } from "./checks/features";
export { securitySchemaStatus } from "./checks/status";
export type { SecuritySchemaStatus } from "./checks/status";
