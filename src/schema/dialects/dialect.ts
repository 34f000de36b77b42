/**
 * What the shipped migrations do differently on each SQL family, one file per family beside this one. The
 * orchestration that is the same everywhere (refusals, listings, the order of steps) is in `../operations.ts`.
 */
import type { DataSource, EntityMetadata, QueryRunner } from "typeorm";
import type { ColumnMetadata } from "typeorm/metadata/ColumnMetadata";
import type { IndexMetadata } from "typeorm/metadata/IndexMetadata";
import type { DatabaseDialect } from "../../database/dialects";

/** What `addColumns` adds to one table. */
export interface AddColumns {
  table: EntityMetadata;
  /** New columns, as the frozen metadata of the target version declares them. */
  columns: ColumnMetadata[];
  /** The one new column to fill with a distinct random token for every existing row. */
  token?: ColumnMetadata;
  /** Existing NOT NULL columns that become nullable (declared nullable in the target version's metadata). */
  nullable?: ColumnMetadata[];
  /** Unique indexes to build, on new or existing columns, after the data is in. */
  indexes: IndexMetadata[];
  /** Why the version makes existing columns unique, for the message when existing rows break that. */
  uniqueBecause: string;
}

/** One `addColumns` call as a dialect carries it out, with what the orchestration worked out for it. */
export interface ColumnAddition extends AddColumns {
  /** The table, quoted. */
  quoted: string;
  /** The SQL expression of a fresh random token, when there is a `token` column. */
  random: string;
  /** Unique indexes on existing columns only: existing rows may break them. */
  onExisting: IndexMetadata[];
  /** Unique indexes that involve a new column. */
  onNew: IndexMetadata[];
  /** The existing columns that become nullable (`nullable`, or none). */
  relaxed: ColumnMetadata[];
  /** `CREATE UNIQUE INDEX` of one of `indexes`. */
  createIndex(index: IndexMetadata): string;
  /** Runs `step`; when it fails because existing rows break a unique index, lists those rows instead. */
  explainingDuplicates(step: () => Promise<void>): Promise<void>;
}

/** The migration side of one SQL family. */
export interface SchemaDialect {
  /** The everyday side of the same family. */
  readonly database: DatabaseDialect;
  /**
   * MariaDB/MySQL commit each DDL statement at once, whatever the transaction: every refusal must come before
   * the first change, and a table found with exactly the expected shape is taken as made by an interrupted
   * earlier run of the same migration, so that running it again completes.
   */
  readonly commitsDdlAtOnce: boolean;
  /** The name of an index to create on `metadata`'s table, quoted as CREATE INDEX wants it. */
  newIndexName(connection: DataSource, metadata: EntityMetadata, name: string): string;
  /** Refuses, changing nothing, when a schema the entities put their tables in does not exist. */
  requireSchemas(queryRunner: QueryRunner, metadatas: EntityMetadata[]): Promise<void>;
  /** An aggregate of the quoted `id` column over a group: a comma list. */
  idList(id: string): string;
  /** The database's cryptographic random source as a 64-hex-character SQL expression. */
  randomToken(queryRunner: QueryRunner): Promise<string>;
  /** Adds the columns and unique indexes of `addition`, filling the token column for every row. */
  addColumns(queryRunner: QueryRunner, addition: ColumnAddition): Promise<void>;
  /** Makes a column that no row holds NULL in NOT NULL. */
  setNotNull(queryRunner: QueryRunner, table: EntityMetadata, column: ColumnMetadata): Promise<void>;
  /** The statements that restore a case-insensitive unique index on a live table, or `[]` when it is intact. */
  caseInsensitiveUniqueRepair(
    queryRunner: QueryRunner,
    table: string,
    column: string,
    indexName: string,
    schema?: string,
  ): Promise<string[]>;
  /** Drops an index when it exists. */
  dropIndexIfExists(queryRunner: QueryRunner, table: EntityMetadata, indexName: string): Promise<void>;
  /** Drops unique indexes, then columns, of a live table: all of them present. */
  dropColumns(queryRunner: QueryRunner, table: EntityMetadata, columns: string[], indexes: string[]): Promise<void>;
}
