/**
 * The shipped migrations, in the order they must run. Spread them into a DataSource's `migrations` beside
 * the app's own: `migrations: [...securityMigrations, "migrations/*.ts"]`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const securityMigrations: Array<new () => any> = [];
