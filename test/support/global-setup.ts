/** Jest global setup: sets the test time zone, checks the servers once and decides which database suites run. */
import { probeServers } from "./servers";

export default async function globalSetup(): Promise<void> {
  // Run every suite away from UTC, where a local-time bug shows as hours of error; TSM_TEST_TZ picks another.
  process.env.TZ = process.env.TSM_TEST_TZ ?? "America/New_York";
  const down = await probeServers();
  const reasons = Object.values(down);
  if (reasons.length > 0 && process.env.CI === "true") {
    throw new Error(`CI=true requires every database suite, but:\n- ${reasons.join("\n- ")}`);
  }
  process.env.TSM_SERVERS_DOWN = JSON.stringify(down);
  for (const reason of reasons) {
    process.stderr.write(`\nSKIPPING a database suite: ${reason}\n`);
  }
}
