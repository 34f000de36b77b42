/** typeorm-security-models: Flask-Security's user and role model as versioned TypeORM base entities. */

// The versioned base entities
export { UserMixinV1 } from "./user/v1";
export { UserMixinV2 } from "./user/v2";
export { UserMixinV3 } from "./user/v3";
export { UserMixinV4 } from "./user/v4";
export { WebAuthnMixinV1 } from "./webauthn/v1";
export type { WebAuthnUsage } from "./webauthn/v1";
export { RoleMixinV1 } from "./role/v1";
export { RefreshTrackerMixinV1 } from "./refresh/v1";
export type { SchemaVersion, SecurityMigration } from "./versions";

// DataSource settings and value formats
export { withNaiveUtc, NaiveUtcRequiredError } from "./datetime";
export { parseCommaList, formatCommaList } from "./lists";
export { newIdentityToken } from "./tokens";

// The datastore
export { SecurityDatastore } from "./datastore/datastore";
export type { FindOptions, NewUser, NewRole, SecurityFieldsOfUser, SecurityFieldsOfRole } from "./datastore/datastore";
export type { RefreshExchange, ExchangeOptions, CleanupOptions } from "./refresh/operations";
export { SECURITY_OWNED_USER_FIELDS, SECURITY_OWNED_ROLE_FIELDS } from "./datastore/owned-fields";
export type { SecurityOwnedUserField, SecurityOwnedRoleField } from "./datastore/owned-fields";

// Feature checks and schema status
export { checkSecurityModels, checkSecurityDatabase, assertSecurityModels } from "./checks/check";
export type { SecurityModelProblem, CheckOptions } from "./checks/check";
export type { SecurityFeatures, FeatureName } from "./checks/features";
export { securitySchemaStatus } from "./checks/status";
export type { SecuritySchemaStatus } from "./checks/status";

// Passwords: hashes a Flask-Security app verifies, and the other way round
export { PasswordHasher, FLASK_SECURITY_RELEASES } from "./password";
export type {
  PasswordHasherOptions,
  PasswordVerification,
  PasswordSchemeName,
  HashingSchemeName,
  NormalizeForm,
  FlaskSecurityRelease,
} from "./password";
export { PasswordConfigError, PasswordSchemeUnavailableError, PasswordHasherMissingError, InvalidPasswordError } from "./password";

// Adopting a database Flask-Security made
export {
  adoptFlaskSecurityDatabase,
  planFlaskSecurityAdoption,
  describeAdoptionChange,
  AdoptionBlockedError,
  FLASK_SECURITY_TOKEN_UNIQUIFIER_LINE,
} from "./adopt";
export type { AdoptionPlan, AdoptionChange } from "./adopt";

// Online upgrades: the shipped upgrades while the app keeps signing users in and up
export { upgradeOnline, planOnlineUpgrade, OnlineUpgradeError } from "./online/upgrade";
export type { OnlineUpgradeOptions, OnlineUpgradePlan, OnlinePhasePlan, OnlineUpgradeProgress, OnlinePhaseName } from "./online/upgrade";
export { OnlineUpgradeBusyError } from "./online/session";

// Errors: all extend SecurityModelError (entity, field, rule)
export {
  SecurityModelError,
  InvalidListItemError,
  RolesNotLoadedError,
  InvalidFieldsError,
  UnknownRoleError,
  DuplicateValueError,
  MissingColumnError,
} from "./errors";
export type { FieldProblem } from "./errors";
export { MigrationBlockedError, SecurityEntitiesNotFoundError } from "./schema";
export { SecurityModelsCheckError } from "./checks/check";

// Database failures of datastore operations, without the statement's values
export { DatabaseOperationError, redactQueryError, secretSafeLogger } from "./datastore/database-errors";
