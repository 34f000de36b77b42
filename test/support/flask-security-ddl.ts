/**
 * Flask-Security schemas made from DDL files: fsqla v1 to v4 as SQLAlchemy emits them
 * (`test/fixtures/flask-security-ddl`) and the `sqla` family v1 and v2 (`test/fixtures/sqla-ddl`).
 */
import { readFileSync } from "fs";
import { join } from "path";
import type { DataSource } from "typeorm";
import type { DatabaseKind } from "./servers";

const FIXTURES = join(__dirname, "..", "fixtures");
const DIALECT: Record<DatabaseKind, string> = { sqlite: "sqlite", postgres: "postgresql", mariadb: "mysql" };

/** The statements of a DDL file for `kind`, comments left out. */
export function ddlStatements(family: "fsqla" | "sqla", version: number, kind: DatabaseKind): string[] {
  const folder = family === "fsqla" ? "flask-security-ddl" : "sqla-ddl";
  return readFileSync(join(FIXTURES, folder, `v${version}-${DIALECT[kind]}.sql`), "utf8")
    .replace(/^--.*$/gm, "")
    .split(";")
    .map((statement) => statement.trim())
    .filter(Boolean);
}

/** Runs the DDL of Flask-Security's `family` model module at `version` (fsqla v1–v4, sqla v1–v2). */
export async function createFlaskSecuritySchema(ds: DataSource, kind: DatabaseKind, version: number, family: "fsqla" | "sqla" = "fsqla") {
  for (const statement of ddlStatements(family, version, kind)) await ds.query(statement);
}
