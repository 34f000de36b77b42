/**
 * What each column of a mixin is, read from the mixin's own TypeORM decorators (the metadata TypeORM builds
 * its tables from) and its tags (`./tags`): type family, length, nullability, uniqueness, the definition fixes
 * show, the feature that needs it and whether it is secret. Nothing here is written by hand, so the feature
 * checks cannot contradict the mixins.
 */
import { getMetadataArgsStorage } from "typeorm";
import type { ColumnMetadataArgs } from "typeorm/metadata-args/ColumnMetadataArgs";
import { MetadataUtils } from "typeorm/metadata-builder/MetadataUtils";
import type { ColumnKind } from "../checks/features";
import { columnTagsOf } from "./tags";
import type { ColumnTag } from "./tags";

/** One column of a mixin. */
export interface ColumnFact {
  property: string;
  /** The database name. */
  column: string;
  /** The type family, or null for one the feature checks do not know (binary). */
  kind: ColumnKind | null;
  nullable: boolean;
  /** Whether a single-column unique index (or primary key) holds it. */
  unique: boolean;
  /** The column as a fix tells an app to declare it: `fs_uniquifier varchar(64) NOT NULL UNIQUE`. */
  definition: string;
  /** Its tag; undefined when the property has none (the guard test refuses that in a mixin). */
  tag: ColumnTag | undefined;
}

/** The type family of a column's declared type. */
function kindOf(args: ColumnMetadataArgs): ColumnKind | null {
  const type = args.options.type;
  if (args.mode === "createDate" || args.mode === "updateDate" || type === Date) return "datetime";
  if (type === Boolean) return "boolean";
  if (type === "varchar") return "string";
  if (type === "text") return "text";
  if (type === "integer") return "integer";
  return null;
}

/** The columns of `mixin` and the classes it extends, as TypeORM resolves them, in declaration order. */
export function columnFactsOf(mixin: Function): ColumnFact[] {
  const storage = getMetadataArgsStorage();
  const chain = MetadataUtils.getInheritanceTree(mixin);
  const tags = columnTagsOf(mixin);
  const uniqueProperties = new Set(
    storage
      .filterIndices(chain)
      .filter((index) => index.unique && Array.isArray(index.columns) && index.columns.length === 1)
      .map((index) => (index.columns as string[])[0]),
  );
  return storage.filterColumns(chain).map((args) => {
    const column = args.options.name ?? args.propertyName;
    const kind = kindOf(args);
    const nullable = args.options.nullable === true;
    const unique = args.options.primary === true || args.options.unique === true || uniqueProperties.has(args.propertyName);
    const type = kind === "string" ? `varchar(${args.options.length})` : (kind ?? String(args.options.type));
    return {
      property: args.propertyName,
      column,
      kind,
      nullable,
      unique,
      definition: `${column} ${type} ${nullable ? "NULL" : "NOT NULL"}${unique ? " UNIQUE" : ""}`,
      tag: tags.get(args.propertyName),
    };
  });
}

/** Whether `mixin` or a class it extends declares an index named `name`. */
export function declaresIndex(mixin: Function, name: string): boolean {
  return getMetadataArgsStorage()
    .filterIndices(MetadataUtils.getInheritanceTree(mixin))
    .some((index) => index.name === name);
}
