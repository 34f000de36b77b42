/** typeorm-security-models: Flask-Security's user and role model as versioned TypeORM base entities. */
export { UserMixinV1 } from "./user/v1";
export { UserMixinV2 } from "./user/v2";
export { RoleMixinV1 } from "./role/v1";
export { withNaiveUtc } from "./datetime";
export { parseCommaList, formatCommaList } from "./lists";
export { newIdentityToken } from "./tokens";
export { SecurityModelError, InvalidListItemError, RolesNotLoadedError } from "./errors";
