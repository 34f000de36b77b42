/**
 * Seeded randomness and the figures each reliability trial reports: the seed is printed and can be set
 * (TSM_FAULT_SEED, TSM_LOAD_SEED, TSM_PROPERTY_SEED) so a failing run can be replayed exactly, and the figures
 * go to `.reliability/<suite>-<database>.json` and stdout, where docs/RELIABILITY.md takes them from.
 */
import { mkdirSync, writeFileSync } from "fs";
import { join } from "path";

/** The seed from `variable`, or a fresh one; printed either way so the run can be repeated. */
export function seedFrom(variable: string, label: string): number {
  const given = process.env[variable];
  const seed = given ? Number(given) : Math.floor(Math.random() * 2 ** 31);
  process.stdout.write(`${label}: seed ${seed} (replay with ${variable}=${seed})\n`);
  return seed;
}

/** A whole number from `variable`, or `fallback`: the CI settings are the fallbacks. */
export function countFrom(variable: string, fallback: number): number {
  const given = Number(process.env[variable]);
  return Number.isInteger(given) && given > 0 ? given : fallback;
}

/** A small seeded generator (mulberry32): the same seed gives the same trials. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes a suite's figures for one database and prints them on one line. */
export function recordFigures(suite: string, database: string, figures: Record<string, unknown>): void {
  const dir = join(__dirname, "..", "..", "..", ".reliability");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${suite}-${database}.json`), JSON.stringify({ suite, database, tz: process.env.TZ, ...figures }, null, 2));
  process.stdout.write(`FIGURES ${suite} [${database}]: ${JSON.stringify(figures)}\n`);
}
