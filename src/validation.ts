/** class-validator rules shared by the entities, so `validate(entity)` reports every invalid field at once. */
import { ValidateBy, ValidationOptions, buildMessage, isEmail } from "class-validator";
import { listItemProblem } from "./lists";
import { hasLoneSurrogate } from "./unicode";

/**
 * class-validator's `IsEmail` (same rule name, `isEmail`), except that text holding a lone surrogate is simply
 * not an email address: `isEmail` itself throws a bare URIError on it, which would escape `validate()`.
 */
export function IsEmailAddress(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: "isEmail",
      validator: {
        validate: (value: unknown) => typeof value === "string" && !hasLoneSurrogate(value) && isEmail(value),
        defaultMessage: buildMessage((prefix) => `${prefix}$property must be an email`, options),
      },
    },
    options,
  );
}

/**
 * The property is null/undefined or an array of strings that a comma list can store (no commas, no empty
 * or blank items, no surrounding whitespace, no NUL). The message names the item's position, never its value.
 */
export function IsCommaList(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: "isCommaList",
      validator: {
        validate: (value: unknown) =>
          value === null || value === undefined || (Array.isArray(value) && value.every((item) => !listItemProblem(item))),
        defaultMessage: buildMessage((prefix, args) => {
          const value = args?.value;
          if (!Array.isArray(value)) return `${prefix}$property must be an array of strings`;
          const index = value.findIndex((item) => listItemProblem(item));
          return `${prefix}$property item ${index + 1} ${listItemProblem(value[index])?.reason}`;
        }, options),
      },
    },
    options,
  );
}

/**
 * The property is a Buffer (or Uint8Array) of 1 to `maxBytes` bytes: how WebAuthn credential ids and public
 * keys are stored. The message gives the rule, never the bytes.
 */
export function IsBinary(maxBytes: number, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: "isBinary",
      constraints: [maxBytes],
      validator: {
        validate: (value: unknown) => value instanceof Uint8Array && value.length >= 1 && value.length <= maxBytes,
        defaultMessage: buildMessage((prefix) => `${prefix}$property must be a Buffer of 1 to ${maxBytes} bytes`, options),
      },
    },
    options,
  );
}
