/** Jest for the interop suite (`npm run test:interop`): our code against the real Flask-Security 5.1.2. */
const base = require("./jest.config.js");

module.exports = { ...base, roots: ["<rootDir>/test/interop"], testPathIgnorePatterns: ["/node_modules/"], testTimeout: 180000 };
