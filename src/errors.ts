/**
 * Errors this package throws. Every one names the entity and the field it is about and says how to fix
 * it; none ever carries the value of a secret column (password hash, TOTP secrets, recovery codes,
 * uniquifiers), so they are safe to log.
 */

/** Base class of every error thrown by typeorm-security-models, so an app can catch them as one kind. */
export class SecurityModelError extends Error {
  /** The entity class or table the problem is in, e.g. `User`. */
  readonly entity: string;
  /** The property or column the problem is in, e.g. `permissions`. */
  readonly field: string;
  /** The rule that was broken, as a short stable identifier apps can branch on (`list-item-comma`). */
  readonly rule: string;

  constructor(entity: string, field: string, rule: string, message: string) {
    super(`${entity}.${field}: ${message}`);
    this.name = new.target.name;
    this.entity = entity;
    this.field = field;
    this.rule = rule;
  }
}

/** A migration cannot run on this database, or the data in it forbids the change; nothing was changed. */
export class MigrationBlockedError extends SecurityModelError {}

/** A comma-list column (permissions, recovery codes, transports) was given an item it cannot store. */
export class InvalidListItemError extends SecurityModelError {}

/** A role check ran on a user whose `roles` relation was not loaded, which would silently answer "no". */
export class RolesNotLoadedError extends SecurityModelError {}

/** One field that failed a rule: what the datastore reports for each invalid field of an input. */
export interface FieldProblem {
  field: string;
  rule: string;
  message: string;
}

/**
 * Input failed the entity's validation rules. `problems` lists every invalid field; `field` names the first.
 * Messages never quote the value.
 */
export class InvalidFieldsError extends SecurityModelError {
  readonly problems: FieldProblem[];
  constructor(entity: string, problems: FieldProblem[]) {
    super(entity, problems.map((p) => p.field).join(", "), problems[0].rule, problems.map((p) => p.message).join("; "));
    this.problems = problems;
  }
}

/** A role was named that does not exist; nothing was written. */
export class UnknownRoleError extends SecurityModelError {}

/** The value is already taken by another row (compared as the datastore compares it, e.g. any letter case). */
export class DuplicateValueError extends SecurityModelError {}

/** The operation needs a column the entity's schema version does not have (e.g. a token uniquifier on V1). */
export class MissingColumnError extends SecurityModelError {}
