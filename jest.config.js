/** Jest: TypeScript through ts-jest, one throw-away database per test file (see test/support). */
module.exports = {
  preset: "ts-jest",
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  setupFiles: ["reflect-metadata"],
  globalSetup: "<rootDir>/test/support/global-setup.ts",
  globalTeardown: "<rootDir>/test/support/global-teardown.ts",
  testTimeout: 60000,
  // The interop suite needs the real Flask-Security and runs on its own: npm run test:interop.
  // The reliability suite (long trials) too: npm run test:reliability; the clusters suite: npm run test:clusters.
  testPathIgnorePatterns: ["/node_modules/", "<rootDir>/test/interop/", "<rootDir>/test/reliability/", "<rootDir>/test/clusters/"],
};
