/**
 * Which fields a caller may hand to `createUser` / `createRole`, and how they are read, so that an app that
 * passes request fields through (`createUser({ ...req.body, password })`) hands out nothing: the fields the
 * security machinery owns (identity tokens, sign-in tracking, confirmation, second-factor and unified
 * sign-in settings, recovery codes, row datetimes) and the roles are refused in the first argument, and come
 * only from the second one, which the app's own code writes. The primary key comes from neither: the row is
 * always a new one, with the id the database gives it (TypeORM's `save()` would update the row with a given id).
 *
 * Each value is read once, from the object's own enumerable properties only (never its prototype, never a
 * getter twice), into a fresh object: an entity instance, a proxy or a `__proto__` key cannot smuggle in
 * anything the checks did not see.
 */
import type { EntityMetadata } from "typeorm";
import { InvalidFieldsError } from "../errors";
import type { FieldProblem } from "../errors";

/**
 * User properties the security machinery owns: set by the datastore, Flask-Security's flows, or on purpose.
 * (The primary key is not among them: the database assigns it, and neither argument may set it.)
 */
export const SECURITY_OWNED_USER_FIELDS = [
  "fsUniquifier",
  "fsTokenUniquifier",
  "fsWebauthnUserHandle",
  "confirmedAt",
  "lastLoginAt",
  "currentLoginAt",
  "lastLoginIp",
  "currentLoginIp",
  "loginCount",
  "tfPrimaryMethod",
  "tfTotpSecret",
  "tfPhoneNumber",
  "usTotpSecrets",
  "usPhoneNumber",
  "mfRecoveryCodes",
  "createDatetime",
  "updateDatetime",
  "roles",
] as const;

/** Role properties the security machinery owns (the primary key aside: see SECURITY_OWNED_USER_FIELDS). */
export const SECURITY_OWNED_ROLE_FIELDS = ["updateDatetime"] as const;

/** A user property `createUser` takes only in its second argument. */
export type SecurityOwnedUserField = (typeof SECURITY_OWNED_USER_FIELDS)[number];

/** A role property `createRole` takes only in its second argument. */
export type SecurityOwnedRoleField = (typeof SECURITY_OWNED_ROLE_FIELDS)[number];

/** How a new row's fields are checked. */
export interface NewRowRules {
  /** The operation, for messages: `createUser`. */
  operation: string;
  /** Properties refused in the first argument (they come from the second). */
  owned: readonly string[];
  /** Relations the operation writes itself (`roles`), read from the second argument like owned fields. */
  relations: readonly string[];
}

/**
 * The fields of a new row: `fields` (ordinary properties only) and `trusted` (any property, and the
 * relations of `rules.relations`), `trusted` winning where both set one, read once into a fresh object.
 * @throws InvalidFieldsError naming every owned, unknown or unsupported field, and a non-object argument.
 */
export function newRowFields(metadata: EntityMetadata, fields: unknown, trusted: unknown, rules: NewRowRules): Record<string, unknown> {
  const entity = metadata.targetName || metadata.name;
  const problems: FieldProblem[] = [];
  const columns = new Set(metadata.columns.map((column) => column.propertyName));
  const primary = new Set(metadata.primaryColumns.map((column) => column.propertyName));
  const relations = new Set(metadata.relations.map((relation) => relation.propertyName));
  const merged: Record<string, unknown> = {};

  const read = (given: unknown, argument: "fields" | "trusted"): void => {
    if (given === undefined && argument === "trusted") return;
    if (typeof given !== "object" || given === null || Array.isArray(given)) {
      problems.push({
        field: `(${argument})`,
        rule: "isObject",
        message: `${rules.operation}'s ${argument === "fields" ? "first" : "second"} argument must be an object of ${entity} fields`,
      });
      return;
    }
    for (const key of Object.keys(given)) {
      const value = (given as Record<string, unknown>)[key];
      if (value === undefined) continue;
      const field = key.length > 64 ? `${key.slice(0, 64)}…` : key;
      const shown = JSON.stringify(field);
      if (primary.has(key)) {
        problems.push({
          field,
          rule: "generatedId",
          message: `${key} is assigned by the database: ${rules.operation} only ever inserts a new ${entity}`,
        });
      } else if (argument === "fields" && rules.owned.includes(key)) {
        problems.push({
          field,
          rule: "securityOwned",
          message: `${key} is set by the security machinery, not by ${rules.operation}'s fields: to set it on purpose (an import, a test), pass it in the second argument`,
        });
      } else if (relations.has(key) && !(argument === "trusted" && rules.relations.includes(key))) {
        problems.push({
          field,
          rule: "unsupportedRelation",
          message: `${rules.operation} inserts the ${entity} row${rules.relations.length ? ` and its ${rules.relations.join(", ")}` : ""} only: save ${key} separately afterwards`,
        });
      } else if (!columns.has(key) && !relations.has(key)) {
        problems.push({ field, rule: "unknownField", message: `${shown} is not a field of ${entity}` });
      } else {
        merged[key] = value;
      }
    }
  };

  read(fields, "fields");
  read(trusted, "trusted");
  if (problems.length > 0) throw new InvalidFieldsError(entity, problems);
  return merged;
}
