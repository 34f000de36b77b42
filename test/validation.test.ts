/**
 * class-validator rules on the entities: `validate(entity)` reports every invalid field at once, with a
 * message that names the field; a valid entity passes and is then accepted by the database.
 */
import { validate } from "class-validator";
import type { DataSource } from "typeorm";
import { InvalidFieldsError, SecurityDatastore } from "../src";
import { Role, User } from "./fixtures/app-v2";
import { describeEachDatabase } from "./support/database";

const validUser = () =>
  Object.assign(new User(), {
    email: "ok@example.com",
    password: "$2b$12$hash",
    usPhoneNumber: "+16505550101",
    tfPhoneNumber: null,
    loginCount: 3,
  });

describe("validate(user)", () => {
  it("passes a valid user, before the defaults are filled in", async () => {
    expect(await validate(validUser())).toEqual([]);
  });

  it("reports every invalid field at once, each by name", async () => {
    const user = Object.assign(new User(), {
      email: "not-an-email",
      password: "",
      username: "u".repeat(256),
      active: "yes",
      fsUniquifier: "f".repeat(65),
      lastLoginIp: "1".repeat(65),
      loginCount: -1,
      tfPhoneNumber: "650 555 0101",
      usPhoneNumber: "+1 (650) 555-0101",
      confirmedAt: "yesterday",
    });
    const errors = await validate(user);
    const byField = Object.fromEntries(errors.map((e) => [e.property, Object.values(e.constraints ?? {})]));
    expect(Object.keys(byField).sort()).toEqual(
      [
        "active",
        "confirmedAt",
        "email",
        "fsUniquifier",
        "lastLoginIp",
        "loginCount",
        "password",
        "tfPhoneNumber",
        "usPhoneNumber",
        "username",
      ].sort(),
    );
    expect(byField.email).toContain("email must be an email address");
    expect(byField.tfPhoneNumber).toContain("tfPhoneNumber must be an E.164 phone number such as +16505550101");
    expect(byField.username.join()).toMatch(/username must be shorter than or equal to 255 characters/);
  });

  it.each([
    ["in the local part", "ad\uD800a@example.com"],
    ["in the domain", "ada@exa\uDC00mple.com"],
  ])("an email with a lone surrogate %s is not an email address (not a bare URIError)", async (_, email) => {
    const errors = await validate(Object.assign(validUser(), { email }));
    expect(errors.map((e) => [e.property, e.constraints])).toEqual([["email", { isEmail: "email must be an email address" }]]);
  });

  it("never quotes a secret value in its messages", async () => {
    const secret = "s".repeat(300);
    const errors = await validate(Object.assign(validUser(), { password: secret, fsUniquifier: secret, tfTotpSecret: secret }));
    expect(errors.map((e) => e.property).sort()).toEqual(["fsUniquifier", "password", "tfTotpSecret"]);
    expect(JSON.stringify(errors.map((e) => e.constraints))).not.toContain(secret);
  });
});

describe("validate(role)", () => {
  it("reports the name and each bad permission item by position, without its value", async () => {
    const role = Object.assign(new Role(), { name: "", description: "d".repeat(256), permissions: ["read", "secret,item"] });
    const errors = await validate(role);
    const byField = Object.fromEntries(errors.map((e) => [e.property, Object.values(e.constraints ?? {}).join("; ")]));
    expect(Object.keys(byField).sort()).toEqual(["description", "name", "permissions"]);
    expect(byField.permissions).toBe("permissions item 2 must not contain a comma (the list separator)");
    expect(byField.permissions).not.toContain("secret");
  });
});

describeEachDatabase("a user that passes validate()", (db) => {
  let ds: DataSource;
  beforeAll(async () => {
    ds = await db.dataSource([User, Role], { synchronize: true });
  });

  it("is accepted by the database as it is", async () => {
    const user = validUser();
    expect(await validate(user)).toEqual([]);
    const saved = await ds.getRepository(User).save(user);
    expect(await ds.getRepository(User).countBy({ id: saved.id, email: "ok@example.com" })).toBe(1);
  });

  it("createUser with a lone surrogate in the email: InvalidFieldsError naming email, nothing written", async () => {
    const store = new SecurityDatastore(ds, User, Role);
    const before = await ds.getRepository(User).count();
    const attempt = store.createUser({ email: "lone\uD800@example.com", password: "$2b$12$hash" });
    await expect(attempt).rejects.toThrow(InvalidFieldsError);
    await expect(attempt).rejects.toMatchObject({ field: "email", rule: "isEmail" });
    expect(await ds.getRepository(User).count()).toBe(before);
  });
});
