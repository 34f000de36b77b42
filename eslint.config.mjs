// ESLint (flat config, `npm run lint`): typescript-eslint's type-checked recommended rules, with Prettier
// owning the layout (eslint-config-prettier turns the layout rules off).
import eslint from "@eslint/js";
import prettier from "eslint-config-prettier";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "docs/api/", "coverage/", "**/node_modules/", "examples/nestjs/dist/", ".reliability/", ".jest-results/"] },
  eslint.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // `any` enters only where TypeORM types it so: raw query rows (`queryRunner.query()`) and drivers
      // loaded on demand; the code names the row shape where it reads one. Flagging every use of such a
      // value would ask for a cast per query, so these five stay off and no-explicit-any guards what we write.
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      // TypeORM's own API names entity classes `Function` (EntityTarget, getMetadata).
      "@typescript-eslint/no-unsafe-function-type": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", ignoreRestSiblings: true }],
      "@typescript-eslint/switch-exhaustiveness-check": ["error", { considerDefaultExhaustiveForUnions: true }],
      eqeqeq: ["error", "smart"],
      // node:test's describe/it return promises the runner awaits itself.
      "@typescript-eslint/no-floating-promises": [
        "error",
        { allowForKnownSafeCalls: [{ from: "package", package: "node:test", name: ["describe", "it", "test", "before", "after"] }] },
      ],
    },
  },
  {
    // Loaded on demand on purpose: the optional database drivers (datetime), TypeORM's driver classes
    // (driver extensions), the app's DataSource file (cli)
    // and TypeORM's migration internals, which its exports map does not name (adopt).
    files: ["src/datetime.ts", "src/cli.ts", "src/adopt/apply.ts", "src/database/driver-extensions.ts"],
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    // Test and benchmark helpers read raw catalog rows of three databases, compare entities property by
    // property (methods included) and hand the TypeScript API's `ts.sys` functions around.
    files: ["test/**", "bench/**"],
    rules: { "@typescript-eslint/no-explicit-any": "off", "@typescript-eslint/unbound-method": "off" },
  },
  {
    // The consumer app's sources are compiled in a temporary app against the packed package, not here.
    files: ["test/consumer/app/**", "**/*.js", "**/*.mjs"],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    files: ["**/*.js"],
    languageOptions: { sourceType: "commonjs", globals: globals.node },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  prettier,
);
