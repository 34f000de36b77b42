/** Jest global teardown: repeats, after the results, which database suites this run skipped. */
export default function globalTeardown(): void {
  const down = JSON.parse(process.env.TSM_SERVERS_DOWN ?? "{}") as Record<string, string>;
  const skipped = Object.keys(down);
  process.stderr.write(
    skipped.length === 0
      ? "\nDatabase suites run: sqlite, postgres, mariadb (none skipped).\n"
      : `\nSKIPPED database suites: ${skipped.join(", ")} (server not reachable; CI=true would fail).\n`,
  );
}
