/**
 * What planning and applying an adoption share: the connection, the app's table names, the names of the
 * tables moved aside, and the reads both make.
 */
import type { DataSource, EntityMetadata, QueryRunner, Table, TableColumn } from "typeorm";
import { formatCommaList, parseCommaList } from "../lists";
import { appSecurityTables, defaultTableNames } from "../schema";
import type { SecurityTableNames } from "../schema";
import { dialectOf } from "../database/dialect";
import type { Dialect } from "../database/dialect";
import { schemaVersion } from "../versions";
import type { SchemaVersion } from "../versions";

/** The prefix of the tables an adoption moves aside, and of their sequences on PostgreSQL. */
export const BACKUP_PREFIX = "tsm_adopt_";

/** One adoption's connection and names. */
export interface AdoptionContext {
  ds: DataSource;
  runner: QueryRunner;
  dialect: Dialect;
  names: SecurityTableNames;
  /** The name quoted as an identifier of the database. */
  quote: (name: string) => string;
}

/** The context of an adoption through `runner`; Flask-Security's table names when no mixin entity is registered. */
export function adoptionContext(ds: DataSource, runner: QueryRunner): AdoptionContext {
  let names = defaultTableNames();
  try {
    names = appSecurityTables(ds);
  } catch {
    // no mixin entities: the blockers say so
  }
  return { ds, runner, dialect: dialectOf(ds), names, quote: (name) => ds.driver.escape(name) };
}

/** The names of the tables moved aside (`tsm_adopt_<name>`). */
export function backupNames(names: SecurityTableNames): SecurityTableNames {
  const { schema: _schema, ...tables } = names;
  return Object.fromEntries(Object.entries(tables).map(([key, name]) => [key, BACKUP_PREFIX + name])) as SecurityTableNames;
}

/** The tables adoption rebuilds at `version`, parents first (links and the user's child tables reference users). */
export function tablesOf(names: SecurityTableNames, version: SchemaVersion): string[] {
  return [names.role, names.user, ...schemaVersion(version).children.map((child) => names[child.key]), names.links];
}

/** The number the query `sql` returns. */
export async function countOf(adoption: AdoptionContext, sql: string): Promise<number> {
  const [row] = await adoption.runner.query(sql);
  return Number(Object.values(row)[0]);
}

/** Roles whose permission list is not in the form both sides read alike (`a,b`: no spaces, no empty items). */
export async function unevenPermissionLists(
  adoption: AdoptionContext,
  role: string,
): Promise<Array<{ id: number; name: string; normal: string }>> {
  const rows: Array<{ id: number; name: string; permissions: string | null }> = await adoption.runner.query(
    `SELECT id, name, permissions FROM ${adoption.quote(role)} WHERE permissions IS NOT NULL`,
  );
  return rows
    .map((r) => ({
      id: Number(r.id),
      name: r.name,
      permissions: r.permissions,
      normal: formatCommaList(parseCommaList(r.permissions), "Role", "permissions"),
    }))
    .filter((r) => r.normal !== r.permissions);
}

/** Columns of the live table that the version's frozen entity does not have: the app's own. */
export function extraColumns(table: Table | undefined, metadata: EntityMetadata): TableColumn[] {
  return (table?.columns ?? []).filter((col) => !metadata.findColumnWithDatabaseName(col.name));
}
