/**
 * Feature checks: tell an app at start-up, field by field, what its models (and its database) lack for the
 * security features it enables, instead of failing later at a user's sign-in. Works on any entities, by column
 * name, whether or not they extend the mixins.
 */
import { getMetadataArgsStorage } from "typeorm";
import type { DataSource, EntityMetadata, EntityTarget } from "typeorm";
import type { Table } from "typeorm";
import { SecurityModelError } from "../errors";
import { RoleMixinV1 } from "../role/v1";
import { UserBase } from "../user/base";
import { allChildTables, detectVersion, migrationNames, versionWithTable } from "../versions";
import type { ReleasedChildTable } from "../versions";
import {
  childTablesNeeded,
  ColumnRequirement,
  enabledFeatures,
  FEATURE_REQUIREMENTS,
  FeatureName,
  SecurityFeatures,
  typeIsKind,
  userMixinWithEveryFeature,
} from "./features";
import type { ChildTableRequirement } from "./features";

/** One thing a model or table lacks for a feature. */
export interface SecurityModelProblem {
  /** Where it was seen: the entity definitions, or the tables in the database. */
  source: "entity" | "database";
  /** The entity class (or `User` / `Role` when none was found). */
  entity: string;
  table: string;
  /** The column (database name), or `(entity)` / `(table)` when the whole thing is missing. */
  field: string;
  /** The feature that needs it (`core`: always needed). */
  feature: FeatureName;
  problem: "missing" | "wrong-type" | "nullable" | "not-unique" | "missing-entity" | "missing-table";
  /** One line: what is wrong and how to fix it. */
  message: string;
}

/** Which entities hold users and roles, when the check cannot tell by itself. */
export interface CheckOptions {
  user?: EntityTarget<unknown>;
  role?: EntityTarget<unknown>;
}

/** Thrown by `assertSecurityModels`: every problem found, one per line. */
export class SecurityModelsCheckError extends SecurityModelError {
  readonly problems: SecurityModelProblem[];
  constructor(problems: SecurityModelProblem[]) {
    const first = problems[0];
    super(
      first.entity,
      first.field,
      first.problem,
      `${problems.length} problem(s) with the security models:\n${problems.map((p) => `- ${p.message}`).join("\n")}`,
    );
    this.problems = problems;
  }
}

interface ColumnFacts {
  type: string;
  nullable: boolean;
  unique: boolean;
}

interface ModelFacts {
  entity: string;
  table: string;
  columns: Map<string, ColumnFacts> | null; // null: not found
  /** The user's child tables (by key) that the entity relates to or the database has. */
  childTables?: Set<string>;
}

/**
 * The app's entity of a user child table: the User's relation's, else one extending the child's mixin, else
 * one on the child's default table (a hand-written model).
 */
function childEntity(metadatas: EntityMetadata[], user: EntityMetadata | undefined, table: ReleasedChildTable): EntityMetadata | undefined {
  return (
    user?.relations.find((r) => r.propertyName === table.userProperty)?.inverseEntityMetadata ??
    metadatas.find((m) => typeof m.target === "function" && m.target.prototype instanceof table.mixin) ??
    metadatas.find((m) => m.tableName === table.defaultName)
  );
}

/** What a feature's child table lacks: the entity or table (`columns` null), else the tagged columns. */
function childTableProblems(
  source: SecurityModelProblem["source"],
  need: ChildTableRequirement,
  found: string | undefined,
  table: string,
  columns: Set<string> | null,
): SecurityModelProblem[] {
  const since = versionWithTable(need.table.key);
  // The class name the user mixin's relation names (`FsRefreshTracker`), which the app's entity must carry.
  const relation = getMetadataArgsStorage().relations.find((r) => r.target === since.user && r.propertyName === need.table.userProperty);
  const className = typeof relation?.type === "string" ? relation.type : need.table.mixin.name;
  const entity = found ?? className;
  if (!columns) {
    const fix =
      source === "entity"
        ? `register \`@Entity() class ${className} extends ${need.table.mixin.name} {}\` beside a User that extends ${since.user.name}`
        : `run the shipped migrations up to ${migrationNames(since.migrations()).pop()}`;
    return [
      problem(
        source,
        entity,
        table,
        source === "entity" ? "(entity)" : "(table)",
        need.feature,
        source === "entity" ? "missing-entity" : "missing-table",
        `missing; ${need.feature} needs the ${need.table.rowName} ${source === "entity" ? "entity" : `table ${table}`}: ${fix}`,
      ),
    ];
  }
  return need.columns
    .filter((fact) => !columns.has(fact.column))
    .map((fact) =>
      problem(
        source,
        entity,
        table,
        fact.column,
        need.feature,
        "missing",
        `missing (needed by ${need.feature}). Fix: extend ${need.table.mixin.name}.`,
      ),
    );
}

/** The user's child tables (by key) that the User entity has a relation to. */
function relatedChildTables(user: EntityMetadata | undefined): Set<string> {
  const related = allChildTables().filter((child) => user?.relations.some((r) => r.propertyName === child.userProperty));
  return new Set(related.map((child) => child.key));
}

/** Every problem of the app's User and Role entities for `features` (no database access). */
export async function checkSecurityModels(
  dataSource: DataSource,
  features: SecurityFeatures = {},
  options: CheckOptions = {},
): Promise<SecurityModelProblem[]> {
  const metadatas = await entityMetadatas(dataSource);
  const { user, role } = findModels(dataSource, metadatas, options);
  const facts = {
    User: { ...entityFacts(dataSource, user, "User", "user"), childTables: relatedChildTables(user) },
    Role: entityFacts(dataSource, role, "Role", "role"),
  };
  const problems = evaluate("entity", facts, features);
  for (const need of childTablesNeeded(features)) {
    const entity = childEntity(metadatas, user, need.table);
    const names = entity ? new Set(entity.columns.map((column) => column.databaseName)) : null;
    problems.push(...childTableProblems("entity", need, entity?.name, entity?.tableName ?? need.table.defaultName, names));
  }
  return problems;
}

/** Every problem of the tables in the database for `features`, with the table names of the app's entities. */
export async function checkSecurityDatabase(
  dataSource: DataSource,
  features: SecurityFeatures = {},
  options: CheckOptions = {},
): Promise<SecurityModelProblem[]> {
  const metadatas = await entityMetadatas(dataSource);
  const { user, role } = findModels(dataSource, metadatas, options);
  const runner = dataSource.createQueryRunner();
  try {
    const userTable = user?.tablePath ?? "user";
    const roleTable = role?.tablePath ?? "role";
    const childTables = new Set<string>();
    for (const child of allChildTables()) {
      const related = user?.relations.find((r) => r.propertyName === child.userProperty)?.inverseEntityMetadata.tablePath;
      if (await runner.hasTable(related ?? child.defaultName)) childTables.add(child.key);
    }
    const facts = {
      User: { ...tableFacts(await runner.getTable(userTable), user?.name ?? "User", userTable), childTables },
      Role: tableFacts(await runner.getTable(roleTable), role?.name ?? "Role", roleTable),
    };
    const problems = evaluate("database", facts, features);
    for (const need of childTablesNeeded(features)) {
      const entity = childEntity(metadatas, user, need.table);
      const table = await runner.getTable(entity?.tablePath ?? need.table.defaultName);
      const names = table ? new Set(table.columns.map((column) => column.name)) : null;
      problems.push(...childTableProblems("database", need, entity?.name, entity?.tableName ?? need.table.defaultName, names));
    }
    return problems;
  } finally {
    await runner.release();
  }
}

/**
 * Throws one SecurityModelsCheckError listing every problem of the entities and, with `live: true`, of the
 * database; returns quietly when there are none. Call it at start-up, after `initialize()`.
 */
export async function assertSecurityModels(
  dataSource: DataSource,
  features: SecurityFeatures = {},
  options: CheckOptions & { live?: boolean } = {},
): Promise<void> {
  const problems = [
    ...(await checkSecurityModels(dataSource, features, options)),
    ...(options.live ? await checkSecurityDatabase(dataSource, features, options) : []),
  ];
  if (problems.length > 0) throw new SecurityModelsCheckError(problems);
}

async function entityMetadatas(dataSource: DataSource): Promise<EntityMetadata[]> {
  if (dataSource.entityMetadatas.length === 0 && !dataSource.isInitialized) {
    // Not initialized: build the metadata without connecting, as initialize() would.
    await (dataSource as unknown as { buildMetadatas(): Promise<void> }).buildMetadatas();
  }
  return dataSource.entityMetadatas.filter((m) => !m.isJunction);
}

const USER_COLUMN_NAMES = [
  "email",
  "password",
  "active",
  "fs_uniquifier",
  "confirmed_at",
  "login_count",
  "tf_primary_method",
  "us_totp_secrets",
  "fs_token_uniquifier",
];
const ROLE_COLUMN_NAMES = ["name", "description", "permissions"];

/**
 * The User and Role entities: given, else extending the mixins, else by table name, else the entity with the
 * most of the model's column names (at least two), so a model missing one column is still found.
 */
function findModels(dataSource: DataSource, metadatas: EntityMetadata[], options: CheckOptions) {
  const byColumns = (names: string[], except?: EntityMetadata) =>
    metadatas
      .filter((m) => m !== except)
      .map((m) => ({ m, score: names.filter((name) => m.findColumnWithDatabaseName(name)).length }))
      .filter(({ score }) => score >= 2)
      .sort((a, b) => b.score - a.score)[0]?.m;
  const pick = (
    given: EntityTarget<unknown> | undefined,
    base: abstract new () => unknown,
    table: string,
    names: string[],
    except?: EntityMetadata,
  ) =>
    given
      ? dataSource.getMetadata(given)
      : (metadatas.find((m) => typeof m.target === "function" && m.target.prototype instanceof base) ??
        metadatas.find((m) => m.tableName === table) ??
        byColumns(names, except));
  const user = pick(options.user, UserBase, "user", USER_COLUMN_NAMES);
  return { user, role: pick(options.role, RoleMixinV1, "role", ROLE_COLUMN_NAMES, user) };
}

function entityFacts(
  dataSource: DataSource,
  metadata: EntityMetadata | undefined,
  fallbackName: string,
  fallbackTable: string,
): ModelFacts {
  if (!metadata) return { entity: fallbackName, table: fallbackTable, columns: null };
  const columns = new Map<string, ColumnFacts>();
  for (const column of metadata.columns) {
    const unique =
      column.isPrimary ||
      metadata.indices.some((i) => i.isUnique && i.columns.length === 1 && i.columns[0] === column) ||
      metadata.uniques.some((u) => u.columns.length === 1 && u.columns[0] === column);
    columns.set(column.databaseName, { type: String(dataSource.driver.normalizeType(column)), nullable: column.isNullable, unique });
  }
  return { entity: metadata.name, table: metadata.tableName, columns };
}

function tableFacts(table: Table | undefined, entity: string, tableName: string): ModelFacts {
  if (!table) return { entity, table: tableName, columns: null };
  const columns = new Map<string, ColumnFacts>();
  for (const column of table.columns) {
    const unique =
      column.isPrimary ||
      column.isUnique ||
      table.indices.some((i) => i.isUnique && i.columnNames.length === 1 && i.columnNames[0] === column.name) ||
      table.uniques.some((u) => u.columnNames.length === 1 && u.columnNames[0] === column.name);
    columns.set(column.name, { type: column.type, nullable: column.isNullable, unique });
  }
  return { entity, table: tableName, columns };
}

const KIND_WORDS: Record<ColumnRequirement["kind"], string> = {
  integer: "an integer",
  string: "a string",
  text: "an arbitrarily long text",
  boolean: "a boolean",
  datetime: "a datetime",
};

function problem(
  source: SecurityModelProblem["source"],
  entity: string,
  table: string,
  field: string,
  feature: FeatureName,
  kind: SecurityModelProblem["problem"],
  text: string,
): SecurityModelProblem {
  const where = source === "entity" ? "entity" : `table ${table}`;
  const subject = field.startsWith("(") ? `${entity} (${where})` : `${entity}.${field} (${where})`;
  return { source, entity, table, field, feature, problem: kind, message: `${subject}: ${text}` };
}

function evaluate(
  source: SecurityModelProblem["source"],
  facts: Record<"User" | "Role", ModelFacts>,
  features: SecurityFeatures,
): SecurityModelProblem[] {
  const problems: SecurityModelProblem[] = [];
  const reported = new Set<string>();
  const user = facts.User;
  const userVersion = detectVersion({
    column: (name) => !!user.columns?.has(name),
    table: (key) => !!user.childTables?.has(key),
  });
  for (const feature of enabledFeatures(features)) {
    for (const need of FEATURE_REQUIREMENTS[feature](features)) {
      const model = facts[need.model];
      const where = source === "entity" ? "entity" : "table";
      if (!model.columns) {
        if (!reported.has(need.model)) {
          reported.add(need.model);
          const fix =
            need.model === "User"
              ? `register an entity extending ${userMixinWithEveryFeature()} (or one with the columns Flask-Security's Models page lists)`
              : "register an entity extending RoleMixinV1";
          problems.push(
            problem(
              source,
              model.entity,
              model.table,
              `(${where})`,
              "core",
              source === "entity" ? "missing-entity" : "missing-table",
              `no ${need.model} ${where} was found; ${source === "entity" ? fix : "run the shipped migrations"}`,
            ),
          );
        }
        continue;
      }
      const column = model.columns.get(need.column);
      const needed = `${feature === "core" ? "always needed" : `needed by ${feature}`}`;
      const declare = `${source === "entity" ? "declare" : "add"} the column ${need.definition}`;
      const fix = `extend ${need.since} or later, or ${declare}`;
      const say = (kind: SecurityModelProblem["problem"], what: string, how: string) =>
        problems.push(problem(source, model.entity, model.table, need.column, feature, kind, `${what} (${needed}). Fix: ${how}.`));
      if (!column) {
        say("missing", "missing", fix);
        continue;
      }
      if (!typeIsKind(column.type, need.kind)) {
        say("wrong-type", `is ${column.type}, must be ${KIND_WORDS[need.kind]}`, `change the column to ${need.definition}`);
      }
      // A column a later version lets hold null (password from version 3) may be nullable in a model at that version.
      const from = need.nullableFrom;
      const nullAllowed = from !== undefined && userVersion !== null && userVersion >= from.version;
      if (need.notNull && column.nullable && !nullAllowed) {
        const why = from ? ` (a null ${need.column} is allowed only from version ${from.version}, ${from.mixin})` : "";
        say("nullable", `allows NULL, must be NOT NULL${why}`, `change the column to ${need.definition}`);
      }
      if (need.unique && !column.unique) say("not-unique", "is not unique, must be", `add a unique index on ${need.column}`);
    }
  }
  return problems;
}
