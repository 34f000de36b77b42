/**
 * Jest for the clusters suite (`npm run test:clusters`, docs/scaling-out.md): a PostgreSQL primary with a
 * streaming replica, PgBouncer in transaction pooling, a 3-node MariaDB Galera cluster, all started by
 * `.ci/clusters start`. One file at a time: the files pause the replica and kill Galera nodes.
 */
const base = require("./jest.config.js");

module.exports = {
  ...base,
  roots: ["<rootDir>/test/clusters"],
  testPathIgnorePatterns: ["/node_modules/"],
  globalSetup: "<rootDir>/test/clusters/support/global-setup.ts",
  globalTeardown: "<rootDir>/test/clusters/support/global-teardown.ts",
  testTimeout: 300000,
  maxWorkers: 1,
};
