/**
 * Jest for the reliability suite (`npm run test:reliability`, docs/RELIABILITY.md): load, killed migrations,
 * property-based bad input and secrets, on every database. Runs on its own because its trials are long.
 */
const base = require("./jest.config.js");

module.exports = {
  ...base,
  roots: ["<rootDir>/test/reliability"],
  testPathIgnorePatterns: ["/node_modules/"],
  testTimeout: 900000,
  maxWorkers: 2,
};
