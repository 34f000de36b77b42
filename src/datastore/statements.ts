/**
 * What the datastore's operations on users and on roles share: how each runs against the database (on the
 * primary, retried on conflicts, one at a time on SQLite), how an entity is checked before it is written, and
 * the raw statements some of them send.
 */
import { validate } from "class-validator";
import type { DataSource, EntityManager } from "typeorm";
import { dialectOf } from "../database/dialect";
import { InvalidFieldsError } from "../errors";
import { retryingConflicts } from "./database-errors";
import { onPrimary } from "./primary";
import { oneAtATimeOnSqlite } from "./sqlite-queue";
import { unstorableFields } from "./storable";

/** An entity class. */
export type Class<T> = abstract new (...args: never[]) => T;

/**
 * Runs `operation` on the table of `target`: on the primary with causal reads (primary.ts), retried on
 * deadlocks and serialization failures; database errors leave without values (database-errors.ts).
 */
export function onTableOf<T>(
  dataSource: DataSource,
  target: Class<unknown>,
  operation: (manager: EntityManager) => Promise<T>,
): Promise<T> {
  return oneAtATimeOnSqlite(dataSource, () =>
    retryingConflicts(dataSource, dataSource.getMetadata(target), () => onPrimary(dataSource, operation)),
  );
}

/**
 * class-validator's rules, then what every database needs to store each string unchanged (storable.ts).
 * @throws InvalidFieldsError naming every field that breaks one.
 */
export async function validateEntity(dataSource: DataSource, entity: object, target: Class<unknown>): Promise<void> {
  const errors = await validate(entity, { forbidUnknownValues: false });
  const problems = errors.map((e) => ({
    field: e.property,
    rule: Object.keys(e.constraints ?? { invalid: "" })[0],
    message: Object.values(e.constraints ?? { invalid: `${e.property} is invalid` }).join(", "),
  }));
  for (const problem of unstorableFields(dataSource.getMetadata(target), entity)) {
    if (!problems.some((p) => p.field === problem.field)) problems.push(problem);
  }
  if (problems.length > 0) throw new InvalidFieldsError(target.name, problems);
}

/**
 * Inserts `entity` as a new row of `target`, never an update (TypeORM's `save()` updates the row of a given id),
 * running its entity listeners and filling in its generated id and datetimes.
 */
export async function insertRow(manager: EntityManager, target: Class<unknown>, entity: object): Promise<void> {
  await manager.createQueryBuilder().insert().into(target).values(entity).execute();
}

/** `sql` with its `?` placeholders as the DataSource's driver wants them (`$1`, `$2` … on PostgreSQL). */
export function positional(dataSource: DataSource, sql: string): string {
  if (dialectOf(dataSource) !== "postgres") return sql;
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** Runs a statement on `manager`'s connection and returns how many rows it changed. */
export async function affectedRows(manager: EntityManager, sql: string, params: unknown[]): Promise<number> {
  const result = await manager.queryRunner!.query(sql, params, true);
  return Number(result.affected ?? 0);
}

/** Runs a statement on `manager`'s connection and returns the rows it returned (`RETURNING`). */
export async function returnedRows(manager: EntityManager, sql: string, params: unknown[]): Promise<Array<Record<string, unknown>>> {
  const result = await manager.queryRunner!.query(sql, params, true);
  return (result.records ?? []) as Array<Record<string, unknown>>;
}
