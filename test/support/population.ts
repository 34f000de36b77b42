/**
 * The population the lossless migration tests fill: 10,000 users with every column of their version set to
 * a value derived from their number (datetimes with milliseconds, nulls in some rows), so dumps before and
 * after a migration can be compared value for value.
 */
import type * as v1 from "../fixtures/app-v1";
import type * as v2 from "../fixtures/app-v2";

export const USERS = 10_000;
export const V1_USER_COLUMNS = [
  "id",
  "email",
  "username",
  "password",
  "active",
  "fs_uniquifier",
  "confirmed_at",
  "last_login_at",
  "current_login_at",
  "last_login_ip",
  "current_login_ip",
  "login_count",
  "tf_primary_method",
  "tf_totp_secret",
  "tf_phone_number",
  "create_datetime",
  "update_datetime",
];

export function v1User(i: number): Partial<v1.User> {
  const at = (offsetDays: number) => new Date(Date.UTC(2020, 0, 1) + (i * 3_600_000 + offsetDays * 86_400_000) + (i % 1000));
  return {
    email: `user${i}@example.com`,
    username: i % 5 === 0 ? null : `name${i}`,
    password: `$2b$12$${String(i).padStart(53, "x")}`,
    active: i % 7 !== 0,
    fsUniquifier: `${i.toString(16).padStart(8, "0")}${"ab".repeat(12)}`,
    confirmedAt: i % 3 === 0 ? null : at(1),
    lastLoginAt: at(2),
    currentLoginAt: at(3),
    lastLoginIp: `10.0.${i % 256}.${(i >> 8) % 256}`,
    currentLoginIp: `2001:db8::${i.toString(16)}`,
    loginCount: i,
    tfPrimaryMethod: ["email", "authenticator", "sms"][i % 3],
    tfTotpSecret: `{"enckey":{"c":14,"k":"K${i}","s":"S${i}","t":"1","v":1},"type":"totp","v":1}`,
    tfPhoneNumber: `+1650${String(i).padStart(7, "0")}`,
    createDatetime: at(0),
    updateDatetime: at(4),
  };
}

/** The columns version 2 adds, in the user table. */
export const V2_ADDED_COLUMNS = ["us_totp_secrets", "us_phone_number", "fs_token_uniquifier"];

/** User number `i` with every V2 column set (a phone number for two users in three, all distinct). */
export function v2User(i: number): Partial<v2.User> {
  return {
    ...(v1User(i) as Partial<v2.User>),
    usTotpSecrets: i % 4 === 0 ? null : `{"authenticator":"{\\"enckey\\":{\\"k\\":\\"U${i}\\"}}"}`,
    usPhoneNumber: i % 3 === 0 ? null : `+1415${String(i).padStart(7, "0")}`,
    fsTokenUniquifier: `${i.toString(16).padStart(8, "0")}${"cd".repeat(12)}`,
  };
}
