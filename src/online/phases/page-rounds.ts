/**
 * PostgreSQL's backfill, page by page so that most rows are updated in place.
 *
 * An UPDATE writes a new version of the row. When it fits on the row's own page and changes no indexed column,
 * PostgreSQL writes it there and touches no index (a HOT update); otherwise the version goes to another page
 * and every index of the table (five on a V2 user table) gets a new entry. A user table filled by inserts has
 * full pages, so a backfill in id order moves every row: measured at a million users
 * (`bench/RESULTS.md`), 83 of 1,000,000 updates were HOT and the table grew from 33,216 to 74,863 pages.
 *
 * So each chunk of pages is updated in rounds. The first takes the first few remaining rows of every page;
 * those move out, and once their transaction has ended, PostgreSQL's pruning frees their space on the next
 * read of the page. Each later round takes as many rows per page as that space holds with the token added,
 * and those stay on their pages. Rows a round cannot fit still move, as before; a last round takes the rest.
 * Nothing depends on the guess being right but the speed: every statement takes only rows still without a
 * token, like the id-ordered batches, which run after it for rows the app moved meanwhile.
 */
import type { ColumnsStepContext } from "./context";

/** The rounds of one chunk of pages. */
export interface PageRounds {
  /** The pages of the table when the backfill began; rows the app writes later get the default. */
  pages: number;
  /** How many live rows the table holds per page, on average. */
  rowsPerPage: number;
  /** Rows per page each round takes, the last one all that are left. */
  perPage: number[];
  /** The UPDATE of one round: `$1` first page, `$2` the page after the last, `$3` rows per page. */
  statement: string;
}

/**
 * A round's old versions can be pruned only once no transaction that began before it committed is still
 * running. With several workers, another's statement usually is; a worker therefore takes its rounds over
 * this many chunks in turn, so that it comes back to a chunk only after the others' statements have ended.
 */
export const CHUNKS_IN_TURN = 4;

/** At most this many rounds per chunk before the one that takes the rest. */
const MOST_ROUNDS = 8;

/**
 * How many rows per page each round takes, for pages of `rowsPerPage` rows of `rowBytes` (line pointer
 * included) that grow by `tokenBytes` each: the fewest rows moved out first such that the rounds after can
 * keep the rest on the page. After each round its old versions are pruned; a round fits as many new versions
 * as the free space holds, and each leaves the page `tokenBytes` fuller.
 */
export function roundsPerPage(rowsPerPage: number, rowBytes: number, tokenBytes: number): number[] {
  const rows = Math.max(1, Math.round(rowsPerPage));
  for (let first = 1; first <= rows; first++) {
    const rounds = [first];
    let left = rows - first;
    let free = first * rowBytes;
    while (left > 0 && rounds.length < MOST_ROUNDS) {
      const fits = Math.min(left, Math.floor(free / (rowBytes + tokenBytes)));
      if (fits === 0) break;
      rounds.push(fits);
      left -= fits;
      free -= fits * tokenBytes;
    }
    if (left === 0) return rounds;
  }
  return [rows];
}

/**
 * The page rounds of the backfill on the session's table, or null where they do not apply: not PostgreSQL,
 * or a server before 14, whose planner cannot scan a range of pages (each round would read the whole table).
 */
export async function pageRounds(context: ColumnsStepContext): Promise<PageRounds | null> {
  const { session, table, random } = context;
  if (session.dialect !== "postgres") return null;
  const [{ version }] = await session.query(`SELECT current_setting('server_version_num')::int AS version`);
  if (Number(version) < 140000) return null;
  // The planner's row count when it has one (kept by ANALYZE and autovacuum), else a count.
  const [shape] = await session.query(
    `SELECT pg_relation_size(c.oid) / current_setting('block_size')::int AS pages,
            CASE WHEN c.reltuples > 0 THEN c.reltuples ELSE (SELECT COUNT(*) FROM ${table}) END AS rows,
            (SELECT AVG(pg_column_size(sample.*)) FROM (SELECT * FROM ${table} LIMIT 1000) AS sample) AS row_bytes,
            pg_column_size((${random})::text) AS token_bytes
       FROM pg_class c WHERE c.oid = $1::regclass`,
    [table],
  );
  const pages = Number(shape.pages);
  if (pages === 0 || Number(shape.rows) === 0) return null;
  const rowsPerPage = Number(shape.rows) / pages;
  // A row takes a line pointer (4 bytes) beside itself; the token may add up to 7 bytes of alignment.
  const perPage = roundsPerPage(rowsPerPage, Number(shape.row_bytes) + 4, Number(shape.token_bytes) + 4);
  return { pages, rowsPerPage, perPage: [...perPage, 2_147_483_647], statement: pageRoundStatement(context) };
}

/** The UPDATE of one round (PostgreSQL): `$1` first page, `$2` the page after the last, `$3` rows per page. */
export function pageRoundStatement({ table, token, random, withoutToken }: ColumnsStepContext): string {
  // The tuple id's text form, "(page,row)", read as a point: its first coordinate is the page. The subquery
  // ranks each page's remaining rows; the UPDATE takes the first $3 of every page by tuple id.
  return (
    `UPDATE ${table} SET ${token} = ${random} WHERE ctid = ANY(ARRAY(` +
    `SELECT ctid FROM (SELECT ctid, row_number() OVER (PARTITION BY (ctid::text::point)[0] ORDER BY ctid) AS n FROM ${table} ` +
    `WHERE ctid >= format('(%s,0)', $1::bigint)::tid AND ctid < format('(%s,0)', $2::bigint)::tid AND ${withoutToken}) AS ranked ` +
    `WHERE n <= $3)) AND ${withoutToken}`
  );
}
