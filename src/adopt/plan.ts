/**
 * Planning an adoption: what the database holds, every change adopting it makes (as data), what blocks it,
 * and the migrations it records. Reads only; `./apply.ts` carries the plan out.
 */
import type { DataSource } from "typeorm";
import { recordedMigrations, schemaShape, securitySchemaStatus } from "../checks/status";
import { requireNaiveUtc } from "../datetime";
import { SecurityModelError } from "../errors";
import { frozenSchema } from "../schema";
import type { SecurityTableNames } from "../schema";
import { EMAIL_CASE_INSENSITIVE_INDEX } from "../user/v3";
import {
  columnsBeyondFlaskSecurity,
  detectVersion,
  emailUniqueInAnyCase,
  emailUniqueInAnyCaseSince,
  LATEST_VERSION,
  migrationNames,
  migrationsAfter,
  migrationsUpTo,
  SCHEMA_VERSIONS,
  schemaVersion,
} from "../versions";
import type { SchemaVersion } from "../versions";
import { adoptionContext, backupNames, countOf, extraColumns, tablesOf, unevenPermissionLists } from "./context";
import type { AdoptionContext } from "./context";

/** Adoption cannot go ahead; nothing was changed. `problems` says why, each with what to do. */
export class AdoptionBlockedError extends SecurityModelError {
  constructor(readonly problems: string[]) {
    super("DataSource", "(database)", "adoption-blocked", `cannot adopt this database; nothing was changed:\n- ${problems.join("\n- ")}`);
  }
}

/** One change an adoption makes; `describeAdoptionChange` says it in a line for people. */
export type AdoptionChange =
  /** Nothing: the tables are already this package's. */
  | { kind: "none"; table: string }
  /** Finishes an adoption that stopped half-way: copies again from the moved-aside `tables`, or only drops them. */
  | { kind: "resume"; table: string; tables: string[]; copyAgain: boolean }
  /** Rebuilds `tables` as `version` declares them; `count` users, `roles` roles and `links` links keep their ids. */
  | {
      kind: "rebuild";
      table: string;
      tables: string[];
      version: SchemaVersion;
      linksTable: string;
      count: number;
      roles: number;
      links: number;
      /** MariaDB/MySQL: DATETIME becomes datetime(6), keeping microseconds from now on. */
      microseconds: boolean;
    }
  /** Keeps the app's own `columns` of `table` as they are. */
  | { kind: "keep-app-columns"; table: string; columns: string[] }
  /** Drops `count` link rows: repeated, with a NULL end, or to a user or role that does not exist. */
  | { kind: "drop-links"; table: string; count: number; reason: "repeated" | "null-end" | "dangling" }
  /** Rewrites `count` permission lists (of `roles`) as Flask-Security writes them. */
  | { kind: "rewrite-permissions"; table: string; count: number; roles: string[] }
  /** Adds `column`, with a distinct random token for each of `count` users. */
  | { kind: "add-token-column"; table: string; column: string; count: number }
  /** Drops `count` rows of a user child table whose user does not exist. */
  | { kind: "drop-orphans"; table: string; count: number; rowName: string }
  /** Adds the index that refuses two emails differing only in letter case, as `version` has it. */
  | { kind: "add-case-insensitive-email-index"; table: string; index: string; version: SchemaVersion }
  /** Records `migrations` as applied in TypeORM's migrations table `table`. */
  | { kind: "record-migrations"; table: string; migrations: string[] };

/** What `planFlaskSecurityAdoption` found and what `adoptFlaskSecurityDatabase` does (or did). */
export interface AdoptionPlan {
  /** What the database holds, e.g. `Flask-Security fsqla v2`. */
  found: string;
  /** `adopt`: a Flask-Security schema to bring in; `resume`: an adoption that stopped half-way; `done`: nothing to do; `blocked`: see `blockers`. */
  action: "adopt" | "resume" | "done" | "blocked";
  /** The schema version of this package the tables become (Flask-Security's version number). */
  toVersion: SchemaVersion | null;
  /** Every change, in the order it is made. */
  changes: AdoptionChange[];
  /** Why it cannot go ahead (empty when it can), each with what to do. */
  blockers: string[];
  /** The shipped migrations recorded as applied in the DataSource's migrations table. */
  recordMigrations: string[];
  /** What to do afterwards (pending migrations, the line Flask-Security's model needs). */
  afterwards: string[];
}

/** The plan, and where the rows come from and which moved-aside tables exist: what applying needs. */
export interface PlanWithSources extends AdoptionPlan {
  /** The tables the rows are copied from: the app's, or the moved-aside ones on a resume that copies again. */
  from: SecurityTableNames;
  backupsPresent: string[];
  /**
   * The app's tables rebuilt, parents first: every table of the version, or only those Flask-Security made
   * beside this package's (its refresh-tracker table beside a V3 database).
   */
  rebuild: string[];
  /** Whether the rows are copied (again): false when a resumed adoption only has old tables left to drop. */
  copy: boolean;
}

/** The Flask-Security model line an app needs beside this package's V2 and later. */
export const FLASK_SECURITY_TOKEN_UNIQUIFIER_LINE = "fs_token_uniquifier = Column(String(64), unique=True, nullable=False)";

/** The line a change is for people. */
export function describeAdoptionChange(change: AdoptionChange): string {
  switch (change.kind) {
    case "none":
      return "nothing: the database is already typeorm-security-models'";
    case "resume":
      return `finish the adoption: ${change.copyAgain ? "rebuild the tables and copy the rows again from" : "drop"} ${change.tables.join(", ")}`;
    case "rebuild":
      return (
        `rebuild ${change.tables.join(", ")} as typeorm-security-models V${change.version} declares them (unique indexes for Flask-Security's unique constraints; ` +
        `${change.linksTable} keyed by (user_id, role_id) with ON DELETE CASCADE foreign keys${change.microseconds ? "; datetime(6) for DATETIME, so microseconds are kept from now on" : ""}): ` +
        `${change.count} user(s), ${change.roles} role(s) and ${change.links} link(s) keep their ids and values`
      );
    case "keep-app-columns":
      return `keep the app's own columns as they are: ${change.columns.map((column) => `${change.table}.${column}`).join(", ")}`;
    case "drop-links":
      return {
        repeated: `${change.table}: drop ${change.count} repeated link(s); each user keeps each of its roles once`,
        "null-end": `${change.table}: drop ${change.count} link(s) with a NULL user_id or role_id (they link nothing)`,
        dangling: `${change.table}: drop ${change.count} link(s) to a user or role that does not exist (SQLite does not check foreign keys for Flask-Security)`,
      }[change.reason];
    case "rewrite-permissions":
      return `${change.table}.permissions: rewrite ${change.count} list(s) as Flask-Security writes them (no spaces, no empty items), so both sides grant the same: ${change.roles.join(", ")}`;
    case "add-token-column":
      return `${change.table}.${change.column}: add it, with a distinct random 64-hex token for each of the ${change.count} user(s)`;
    case "drop-orphans":
      return `${change.table}: drop ${change.count} ${change.rowName}(s) of a user that does not exist`;
    case "add-case-insensitive-email-index":
      return `${change.table}.email: add the unique index on it in any letter case that V${change.version} has (${change.index})`;
    case "record-migrations":
      return `record as applied in "${change.table}": ${change.migrations.join(", ")}`;
  }
}

/** The version of the app's User entity, by the columns and relations it maps (version 1 when it shows none). */
function appVersion(ds: DataSource, names: SecurityTableNames): SchemaVersion {
  const user = ds.entityMetadatas.find((m) => m.tableName === names.user && !m.isJunction);
  const version = detectVersion({
    column: (name) => !!user?.findColumnWithDatabaseName(name),
    table: (key) =>
      SCHEMA_VERSIONS.some((row) =>
        row.children.some((c) => c.key === key && user?.relations.some((r) => r.propertyName === c.userProperty)),
      ),
  });
  return version ?? SCHEMA_VERSIONS[0].version;
}

/** The version of the tables moved aside, by their columns and tables (version 1 when they show none). */
async function backupVersion(adoption: AdoptionContext, backups: SecurityTableNames): Promise<SchemaVersion> {
  const table = await adoption.runner.getTable(backups.user);
  const tables = new Set<string>();
  for (const row of SCHEMA_VERSIONS)
    for (const child of row.children) if (await adoption.runner.hasTable(backups[child.key])) tables.add(child.key);
  const version = detectVersion({ column: (name) => !!table?.findColumnByName(name), table: (key) => tables.has(key) });
  return version ?? SCHEMA_VERSIONS[0].version;
}

/** Counts of the link rows that cannot stay: NULL ends, ends that name no row, and repeats. */
async function linkCounts(adoption: AdoptionContext, from: SecurityTableNames) {
  const [links, user, role] = [adoption.quote(from.links), adoption.quote(from.user), adoption.quote(from.role)];
  const valid = `user_id IN (SELECT id FROM ${user}) AND role_id IN (SELECT id FROM ${role})`;
  const total = await countOf(adoption, `SELECT COUNT(*) AS n FROM ${links}`);
  const empty = await countOf(adoption, `SELECT COUNT(*) AS n FROM ${links} WHERE user_id IS NULL OR role_id IS NULL`);
  const dangling = await countOf(
    adoption,
    `SELECT COUNT(*) AS n FROM ${links} WHERE user_id IS NOT NULL AND role_id IS NOT NULL AND NOT (${valid})`,
  );
  const kept = await countOf(adoption, `SELECT COUNT(*) AS n FROM (SELECT DISTINCT user_id, role_id FROM ${links} WHERE ${valid}) AS t`);
  return { total, empty, dangling, duplicates: total - empty - dangling - kept, kept };
}

/** Foreign keys of other tables (in this database only) that point at the adopted ones: a rebuild would break them. */
async function referencingTables(adoption: AdoptionContext, adopted: string[]): Promise<string[]> {
  const sql = {
    sqlite: `SELECT m.name AS source, f."table" AS target FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table'`,
    postgres: `SELECT c.relname AS source, p.relname AS target FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
                WHERE k.contype = 'f' AND p.relnamespace = to_regnamespace(current_schema())::oid`,
    mysql: `SELECT TABLE_NAME AS source, REFERENCED_TABLE_NAME AS target FROM information_schema.KEY_COLUMN_USAGE
             WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_SCHEMA = DATABASE()`,
  }[adoption.dialect];
  const rows: Array<{ source: string; target: string }> = await adoption.runner.query(sql);
  const found = rows.filter((r) => adopted.includes(r.target) && !adopted.includes(r.source)).map((r) => `${r.source} → ${r.target}`);
  return [...new Set(found)];
}

/**
 * The session's current PostgreSQL schema when the app's tables are in another one, else undefined. Adoption
 * names tables without a schema, so it works only where those names lead.
 */
async function outsideCurrentSchema(adoption: AdoptionContext): Promise<string | undefined> {
  if (adoption.dialect !== "postgres" || !adoption.names.schema) return undefined;
  const [{ current }] = await adoption.runner.query(`SELECT current_schema() AS current`);
  return current === adoption.names.schema ? undefined : String(current);
}

/** The plan of adopting the database behind `adoption`, with what applying it needs. */
export async function makePlan(adoption: AdoptionContext): Promise<PlanWithSources> {
  const { ds, runner, names } = adoption;
  requireNaiveUtc(ds, "adopt");
  const backups = backupNames(names);
  const backupsPresent: string[] = [];
  for (const name of tablesOf(backups, LATEST_VERSION)) if (await runner.hasTable(name)) backupsPresent.push(name);
  const plan: PlanWithSources = {
    found: "",
    action: "adopt",
    toVersion: null,
    changes: [],
    blockers: [],
    recordMigrations: [],
    afterwards: [],
    from: names,
    backupsPresent,
    rebuild: [],
    copy: true,
  };
  const migrationsTable = (ds.options as { migrationsTableName?: string }).migrationsTableName ?? "migrations";

  if (!ds.entityMetadatas.some((m) => m.tableName === names.user && !m.isJunction)) {
    plan.blockers.push(
      "the DataSource has no User entity extending a UserMixin: register the app's User and Role entities (entities: [User, Role]).",
    );
  }
  const outside = await outsideCurrentSchema(adoption);
  if (outside) {
    const status = await securitySchemaStatus(ds);
    plan.found = status.label;
    if (status.family === "ours") {
      plan.action = "done";
      plan.changes.push({ kind: "none", table: names.user });
    } else {
      plan.action = "blocked";
      plan.blockers.push(
        `the app's tables are in PostgreSQL schema "${names.schema}", and adopt works in the session's current schema ("${outside}") only. ` +
          `To adopt them there, let the DataSource's sessions start in that schema: schema: "${names.schema}" and ` +
          `extra: { options: "-c search_path=${names.schema}" } in its options (inside withNaiveUtc), then run adopt again.`,
      );
    }
    return plan;
  }
  let version: SchemaVersion;
  if (backupsPresent.length > 0) {
    // An adoption stopped half-way (MariaDB/MySQL only: elsewhere it is one transaction).
    plan.action = "resume";
    plan.found = `an adoption that stopped half-way (${backupsPresent.join(", ")} still there)`;
    // The rows moved in one transaction, and the old tables are dropped only after it: while the old user,
    // role and link tables are all there, copy again; once one is gone, only the dropping is left.
    const core = [backups.role, backups.user, backups.links];
    const whole = core.every((name) => backupsPresent.includes(name));
    const onlyChildren = !core.some((name) => backupsPresent.includes(name));
    version = whole ? await backupVersion(adoption, backups) : appVersion(ds, names);
    // Only child tables moved aside (Flask-Security's tables beside ours): the migrations are recorded in the
    // transaction that copies their rows, so while they are not, copy again.
    const recorded = await recordedMigrations(ds, runner);
    const copyAgain = whole || (onlyChildren && !migrationNames(migrationsUpTo(version)).every((name) => recorded.includes(name)));
    plan.changes.push({ kind: "resume", table: names.user, tables: backupsPresent, copyAgain });
    plan.copy = copyAgain;
    if (whole) {
      plan.from = backups;
      plan.rebuild = tablesOf(names, version);
    } else if (onlyChildren) {
      const moved = schemaVersion(version).children.filter((child) => backupsPresent.includes(backups[child.key]));
      plan.from = { ...names, ...Object.fromEntries(moved.map((child) => [child.key, backups[child.key]])) };
      plan.rebuild = moved.map((child) => names[child.key]);
    }
  } else {
    const shape = await schemaShape(ds, runner);
    plan.found = shape.label;
    if (shape.family === "ours" && shape.flaskSecurityTables.length === 0) {
      plan.action = "done";
      plan.changes.push({ kind: "none", table: names.user });
      return plan;
    }
    // Flask-Security's schema, or ours with tables of a later version Flask-Security made beside it.
    if (shape.family === "unknown" || shape.family === "empty" || shape.tablesVersion === null) {
      plan.action = "blocked";
      plan.blockers.push(
        `${shape.label} is not a Flask-Security fsqla or sqla schema${shape.family === "empty" ? ": create the tables with the shipped migrations instead (runMigrations)" : ""}.`,
      );
      return plan;
    }
    version = shape.tablesVersion;
    plan.rebuild = shape.flaskSecurityTables.length > 0 ? shape.flaskSecurityTables : tablesOf(names, version);
  }
  plan.toVersion = version;
  const app = appVersion(ds, names);
  if (app < version) {
    plan.blockers.push(
      `the database is at version ${version} and the app's User entity at V${app}: extend ${schemaVersion(version).user.name} (this package's version of fsqla v${version}), or adoption would leave drift.`,
    );
  }
  const referencing = await referencingTables(adoption, [...tablesOf(names, version), ...tablesOf(backups, version)]);
  if (referencing.length > 0) {
    plan.blockers.push(
      `other tables have foreign keys to the tables adoption rebuilds (${referencing.join("; ")}): drop those foreign keys, adopt, then add them again.`,
    );
  }
  if (plan.copy && plan.rebuild.length > 0) plan.changes.push(...(await rowChanges(adoption, plan, version)));
  plan.recordMigrations = migrationNames(migrationsUpTo(version));
  plan.changes.push({ kind: "record-migrations", table: migrationsTable, migrations: plan.recordMigrations });
  const registered = ds.migrations.map((m) => m.name ?? m.constructor.name);
  const pending = migrationNames(migrationsAfter(version)).filter((name) => registered.includes(name));
  if (pending.length > 0) {
    plan.afterwards.push(`run the migrations (${pending.join(", ")}) when Flask-Security moves to the matching fsqla version too`);
  }
  const tokenSince = SCHEMA_VERSIONS.find((row) => columnsBeyondFlaskSecurity(row.version).includes("fs_token_uniquifier"));
  if (tokenSince && version >= tokenSince.version)
    plan.afterwards.push(
      `Flask-Security's User model needs this line, as typeorm-security-models V${tokenSince.version}+ has the column: ${FLASK_SECURITY_TOKEN_UNIQUIFIER_LINE}`,
    );
  if (plan.blockers.length > 0) plan.action = "blocked";
  return plan;
}

/** The changes to the rows and tables (and the blockers they reveal) of adopting `plan.from` into `version`. */
async function rowChanges(adoption: AdoptionContext, plan: PlanWithSources, version: SchemaVersion): Promise<AdoptionChange[]> {
  const { ds, runner, names, quote } = adoption;
  const { from } = plan;
  const changes: AdoptionChange[] = [];
  const users = await countOf(adoption, `SELECT COUNT(*) AS n FROM ${quote(from.user)}`);
  const roles = await countOf(adoption, `SELECT COUNT(*) AS n FROM ${quote(from.role)}`);
  const links = await linkCounts(adoption, from);
  const userTable = await runner.getTable(from.user);
  const frozen = await frozenSchema(ds, version, names);
  const rebuilt = (name: string) => plan.rebuild.includes(name);
  changes.push({
    kind: "rebuild",
    table: names.user,
    tables: plan.rebuild,
    version,
    linksTable: names.links,
    count: users,
    roles,
    links: links.kept,
    microseconds: adoption.dialect === "mysql",
  });
  const extra = rebuilt(names.user) ? extraColumns(userTable, frozen.user).map((col) => col.name) : [];
  if (extra.length > 0) changes.push({ kind: "keep-app-columns", table: names.user, columns: extra });
  if (!rebuilt(names.links)) return [...changes, ...(await childChanges(adoption, plan, version))];
  if (links.duplicates > 0) changes.push({ kind: "drop-links", table: names.links, count: links.duplicates, reason: "repeated" });
  if (links.empty > 0) changes.push({ kind: "drop-links", table: names.links, count: links.empty, reason: "null-end" });
  if (links.dangling > 0) changes.push({ kind: "drop-links", table: names.links, count: links.dangling, reason: "dangling" });
  const uneven = await unevenPermissionLists(adoption, from.role);
  if (uneven.length > 0)
    changes.push({ kind: "rewrite-permissions", table: names.role, count: uneven.length, roles: uneven.map((r) => r.name) });
  for (const column of columnsBeyondFlaskSecurity(version))
    if (!userTable?.findColumnByName(column)) changes.push({ kind: "add-token-column", table: names.user, column, count: users });
  changes.push(...(await childChanges(adoption, plan, version)));
  if (emailUniqueInAnyCase(version)) {
    // MariaDB/MySQL: the email index's case-insensitive collation already refuses them.
    if (adoption.dialect !== "mysql") {
      const since = emailUniqueInAnyCaseSince()!;
      changes.push({ kind: "add-case-insensitive-email-index", table: names.user, index: EMAIL_CASE_INSENSITIVE_INDEX, version: since });
      const variants = await countOf(
        adoption,
        `SELECT COUNT(*) AS n FROM (SELECT lower(email) AS e FROM ${quote(from.user)} GROUP BY lower(email) HAVING COUNT(*) > 1) AS t`,
      );
      if (variants > 0) {
        plan.blockers.push(
          `${variants} email(s) are held by more than one user in different letter case, which V${since} refuses (Flask-Security finds users by email in any case): ` +
            `merge or change those users in Flask-Security first (SELECT id, email FROM ${names.user} WHERE lower(email) IN (SELECT lower(email) FROM ${names.user} GROUP BY lower(email) HAVING COUNT(*) > 1)).`,
        );
      }
    }
  }
  return changes;
}

/** The rows of the rebuilt child tables whose user does not exist, which the copy leaves behind. */
async function childChanges(adoption: AdoptionContext, plan: PlanWithSources, version: SchemaVersion): Promise<AdoptionChange[]> {
  const { names, quote } = adoption;
  const changes: AdoptionChange[] = [];
  for (const child of schemaVersion(version).children.filter((c) => plan.rebuild.includes(names[c.key]))) {
    const orphans = await countOf(
      adoption,
      `SELECT COUNT(*) AS n FROM ${quote(plan.from[child.key])} WHERE user_id NOT IN (SELECT id FROM ${quote(plan.from.user)})`,
    );
    if (orphans > 0) changes.push({ kind: "drop-orphans", table: names[child.key], count: orphans, rowName: child.rowName });
  }
  return changes;
}

/**
 * What adopting this database would change, without changing anything: the version found, every change
 * (rows dropped, values rewritten, columns added), what blocks it, the migrations it records.
 */
export async function planFlaskSecurityAdoption(dataSource: DataSource): Promise<AdoptionPlan> {
  const runner = dataSource.createQueryRunner();
  try {
    const {
      from: _from,
      backupsPresent: _present,
      rebuild: _rebuild,
      copy: _copy,
      ...plan
    } = await makePlan(adoptionContext(dataSource, runner));
    return plan;
  } finally {
    await runner.release();
  }
}
