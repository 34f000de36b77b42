/** Jest global teardown of the clusters suite: repeats, after the results, which topologies were skipped. */
export default function globalTeardown(): void {
  const down = JSON.parse(process.env.TSM_CLUSTERS_DOWN ?? "{}") as Record<string, string>;
  const skipped = Object.keys(down);
  process.stderr.write(
    skipped.length === 0
      ? "\nCluster suites run: pg-replica, pgbouncer, galera (none skipped).\n"
      : `\nSKIPPED cluster suites: ${skipped.join(", ")} (not up: .ci/clusters start; CI=true would fail).\n`,
  );
}
