/** Jest global setup of the clusters suite: the test time zone, and which topologies are up (CI=true: all). */
import { probeClusters } from "./clusters";

export default async function globalSetup(): Promise<void> {
  // Away from UTC, where a local-time bug shows as hours of error (the PostgreSQL cluster runs in New York too).
  process.env.TZ = process.env.TSM_TEST_TZ ?? "America/New_York";
  const down = await probeClusters();
  const reasons = Object.values(down);
  if (reasons.length > 0 && process.env.CI === "true") {
    throw new Error(`CI=true requires every cluster, but:\n- ${reasons.join("\n- ")}`);
  }
  process.env.TSM_CLUSTERS_DOWN = JSON.stringify(down);
  for (const reason of reasons) process.stderr.write(`\nSKIPPING a cluster suite: ${reason}\n`);
}
