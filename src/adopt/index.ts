/**
 * Adopting a database that Flask-Security made (fsqla v1, v2 or v3): brings its tables under this package's
 * shipped migrations without losing a user, a role or a link, so that the app's entities (drift-free) and
 * Flask-Security of the same version both keep using it. Flask-Security's version N becomes this package's VN
 * (the matching one, the newest both sides can use together); the shipped migrations up to VN are recorded as
 * applied, and later ones stay pending for the app to run when Flask-Security moves on too.
 *
 * `./plan.ts` inspects and lists every change as data; `./apply.ts` makes them.
 */
export { adoptFlaskSecurityDatabase } from "./apply";
export { AdoptionBlockedError, describeAdoptionChange, FLASK_SECURITY_TOKEN_UNIQUIFIER_LINE, planFlaskSecurityAdoption } from "./plan";
export type { AdoptionChange, AdoptionPlan } from "./plan";
