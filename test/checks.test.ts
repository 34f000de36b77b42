/**
 * Feature checks: every row of Flask-Security's feature table, with its column missing, of the wrong type,
 * nullable or not unique, on hand-written entities (no mixins) and on the live tables of each database.
 * Each problem names the entity, the field, the feature and the fix.
 */
import { DataSource } from "typeorm";
import type { EntitySchemaColumnOptions } from "typeorm";
import { assertSecurityModels, checkSecurityDatabase, checkSecurityModels, SecurityModelsCheckError } from "../src";
import type { SecurityFeatures, SecurityModelProblem } from "../src";
import { enabledFeatures, FEATURE_REQUIREMENTS } from "../src/checks/features";
import type { ColumnRequirement, FeatureName } from "../src/checks/features";
import { securityMigrations, securityMigrationsV3 } from "../migrations";
import * as v2 from "./fixtures/app-v2";
import * as v3 from "./fixtures/app-v3";
import * as v4 from "./fixtures/app-v4";
import { appAddDisplayName } from "./fixtures/app-migrations";
import { handWritten, ROLE_COLUMNS, USER_COLUMNS, wrongTypeFor } from "./fixtures/hand-written";
import { describeEachDatabase } from "./support/database";

const ALL: SecurityFeatures = {
  confirmable: true,
  trackable: true,
  twoFactor: { methods: ["email", "authenticator", "sms"] },
  unifiedSignin: { methods: ["password", "sms"] },
  tokenIdentity: true,
  permissions: true,
  webauthn: true,
  recoveryCodes: true,
};

interface Variant {
  name: string;
  feature: FeatureName;
  need: ColumnRequirement;
  problem: SecurityModelProblem["problem"];
  change: (columns: Record<string, EntitySchemaColumnOptions>) => void;
}

/** For every requirement of every feature: missing, wrong type, and nullable / not unique where it matters. */
const variants: Variant[] = enabledFeatures(ALL).flatMap((feature) =>
  FEATURE_REQUIREMENTS[feature](ALL).flatMap((need) => {
    const base = { feature, need };
    const list: Variant[] = [
      { ...base, name: `${feature}: ${need.model}.${need.column} missing`, problem: "missing", change: (c) => delete c[need.column] },
      {
        ...base,
        name: `${feature}: ${need.model}.${need.column} of the wrong type`,
        problem: "wrong-type",
        change: (c) => (c[need.column] = { ...c[need.column], ...wrongTypeFor(need.kind) }),
      },
    ];
    // A nullable password is a problem only before version 3, so that variant drops the V3 column too.
    const nullable = (c: Record<string, EntitySchemaColumnOptions>) => {
      c[need.column] = { ...c[need.column], nullable: true };
      if (need.column === "password") delete c.fs_webauthn_user_handle;
    };
    if (need.notNull)
      list.push({ ...base, name: `${feature}: ${need.model}.${need.column} nullable`, problem: "nullable", change: nullable });
    if (need.unique)
      list.push({
        ...base,
        name: `${feature}: ${need.model}.${need.column} not unique`,
        problem: "not-unique",
        change: (c) => (c[need.column] = { ...c[need.column], unique: false }),
      });
    return list;
  }),
);

function entitiesFor(variant: Variant) {
  const user = { ...USER_COLUMNS };
  const role = { ...ROLE_COLUMNS };
  variant.change(variant.need.model === "User" ? user : role);
  return handWritten(user, role);
}

function expectReported(problems: SecurityModelProblem[], variant: Variant, source: "entity" | "database") {
  const entity = variant.need.model === "User" ? "AppUser" : "AppRole";
  const found = problems.filter((p) => p.field === variant.need.column);
  expect(found).toEqual([expect.objectContaining({ source, entity, feature: variant.feature, problem: variant.problem })]);
  expect(found[0].message).toMatch(
    new RegExp(
      `^${entity}\\.${variant.need.column} \\(${source === "entity" ? "entity" : "table app_(user|role)"}\\): .*\\(${variant.feature === "core" ? "always needed" : `needed by ${variant.feature}`}\\)\\. Fix: `,
    ),
  );
}

describeEachDatabase("feature checks", (db) => {
  it("complete hand-written models pass every feature, on the entities and in the database", async () => {
    const ds = await db.dataSource(handWritten(), { synchronize: true, dropSchema: true });
    expect(await checkSecurityModels(ds, ALL)).toEqual([]);
    expect(await checkSecurityDatabase(ds, ALL)).toEqual([]);
    await ds.destroy();
  });

  it("the mixins pass what V2 carries, and are told that V3 adds the rest", async () => {
    const ds = new DataSource(db.options([v2.User, v2.Role]));
    const { webauthn, recoveryCodes, ...v2Features } = ALL;
    expect(await checkSecurityModels(ds, v2Features)).toEqual([]);
    const problems = await checkSecurityModels(ds, { webauthn, recoveryCodes });
    expect(problems.map((p) => `${p.entity}.${p.field}:${p.problem}`)).toEqual([
      "User.fs_webauthn_user_handle:missing",
      "User.mf_recovery_codes:missing",
      "WebAuthn.(entity):missing-entity",
    ]);
    expect(problems[0].message).toMatch(/extend UserMixinV3 or later, or /);
  });

  it("the V3 mixins carry every feature, and so does a database built by the shipped migrations", async () => {
    const ds = await db.dataSource([v3.User, v3.Role, v3.WebAuthn], {
      migrations: [...securityMigrationsV3, appAddDisplayName("user")],
      dropSchema: true,
    });
    await ds.runMigrations({ transaction: "all" });
    expect(await checkSecurityModels(ds, ALL)).toEqual([]);
    expect(await checkSecurityDatabase(ds, ALL)).toEqual([]);
    await ds.dropDatabase();
    await ds.destroy();
  });

  it.each(variants)("entity: $name", async (variant) => {
    const ds = new DataSource(db.options(entitiesFor(variant)));
    expectReported(await checkSecurityModels(ds, ALL), variant, "entity");
  });

  // In the database: every requirement missing, and the other way it can be wrong (one per requirement).
  const liveVariants = variants.filter(
    (v, i, all) => v.problem === "missing" || all.findIndex((w) => w.need === v.need && w.problem !== "missing") === i,
  );
  it.each(liveVariants)("database: $name", async (variant) => {
    const ds = await db.dataSource(entitiesFor(variant), { synchronize: true, dropSchema: true });
    expectReported(await checkSecurityDatabase(ds, ALL), variant, "database");
    await ds.destroy();
  });

  it("webauthn without a WebAuthn entity or table: both reported", async () => {
    const ds = await db.dataSource(handWritten(USER_COLUMNS, ROLE_COLUMNS, false), { synchronize: true, dropSchema: true });
    const problems = [...(await checkSecurityModels(ds, { webauthn: true })), ...(await checkSecurityDatabase(ds, { webauthn: true }))];
    expect(problems.map((p) => `${p.source}:${p.entity}:${p.field}:${p.problem}`)).toEqual([
      "entity:WebAuthn:(entity):missing-entity",
      "database:WebAuthn:(table):missing-table",
    ]);
    await ds.destroy();
  });

  it("refreshToken: a V3 app lacks the refresh-tracker entity and table; V4 and its migration have both, column by column", async () => {
    const v3ds = await db.dataSource([v3.User, v3.Role, v3.WebAuthn], {
      migrations: [...securityMigrationsV3, appAddDisplayName("user")],
      dropSchema: true,
    });
    await v3ds.runMigrations({ transaction: "all" });
    const before = [
      ...(await checkSecurityModels(v3ds, { refreshToken: true })),
      ...(await checkSecurityDatabase(v3ds, { refreshToken: true })),
    ];
    expect(before.map((p) => `${p.source}:${p.entity}:${p.table}:${p.field}:${p.feature}:${p.problem}`)).toEqual([
      "entity:FsRefreshTracker:fs_refresh_tracker:(entity):refreshToken:missing-entity",
      "database:FsRefreshTracker:fs_refresh_tracker:(table):refreshToken:missing-table",
    ]);
    expect(before[0].message).toMatch(
      /register `@Entity\(\) class FsRefreshTracker extends RefreshTrackerMixinV1 \{\}` beside a User that extends UserMixinV4/,
    );
    expect(before[1].message).toMatch(/run the shipped migrations up to SecurityV4RefreshTrackers1795737780000/);
    await v3ds.destroy();

    const ds = await db.dataSource(v4.entities, { migrations: [...securityMigrations, appAddDisplayName("user")] });
    await ds.runMigrations({ transaction: "all" });
    expect(await checkSecurityModels(ds, { ...ALL, refreshToken: true })).toEqual([]);
    expect(await checkSecurityDatabase(ds, { ...ALL, refreshToken: true })).toEqual([]);
    // A tracker table someone made without the generation column: that column is reported.
    await ds.query(`ALTER TABLE fs_refresh_tracker DROP COLUMN gen`);
    expect(
      (await checkSecurityDatabase(ds, { refreshToken: true })).map((p) => `${p.entity}.${p.field}:${p.feature}:${p.problem}`),
    ).toEqual(["FsRefreshTracker.gen:refreshToken:missing"]);
    await ds.dropDatabase();
    await ds.destroy();
  });

  it("a feature that is off needs nothing; sms adds the phone numbers", async () => {
    const user = { ...USER_COLUMNS };
    delete user.tf_phone_number;
    delete user.us_phone_number;
    const ds = new DataSource(db.options(handWritten(user)));
    expect(await checkSecurityModels(ds, { twoFactor: true, unifiedSignin: { methods: ["email"] } })).toEqual([]);
    const fields = (await checkSecurityModels(ds, { twoFactor: { methods: ["sms"] }, unifiedSignin: { methods: ["sms"] } })).map(
      (p) => p.field,
    );
    expect(fields).toEqual(["tf_phone_number", "us_phone_number"]);
  });

  it("a nullable password is accepted from version 3 on (a V3-shaped user has fs_webauthn_user_handle)", async () => {
    const ds = new DataSource(db.options(handWritten({ ...USER_COLUMNS, password: { type: "varchar", length: 255, nullable: true } })));
    expect(await checkSecurityModels(ds, {})).toEqual([]);
    const v2shaped = { ...USER_COLUMNS, password: { type: "varchar", length: 255, nullable: true } } as Record<
      string,
      EntitySchemaColumnOptions
    >;
    delete v2shaped.fs_webauthn_user_handle;
    const problems = await checkSecurityModels(new DataSource(db.options(handWritten(v2shaped))), {});
    expect(problems.map((p) => p.message)).toEqual([
      "AppUser.password (entity): allows NULL, must be NOT NULL (a null password is allowed only from version 3, UserMixinV3) (always needed). Fix: change the column to password varchar(255) NOT NULL.",
    ]);
  });

  it("no User entity, no tables: said once each, with the fix", async () => {
    const ds = await db.dataSource([v2.Role]);
    const problems = [
      ...(await checkSecurityModels(ds, { confirmable: true })),
      ...(await checkSecurityDatabase(ds, { confirmable: true })),
    ];
    expect(problems.map((p) => p.message)).toEqual([
      "User (entity): no User entity was found; register an entity extending UserMixinV3 (or one with the columns Flask-Security's Models page lists)",
      "User (table user): no User table was found; run the shipped migrations",
      "Role (table role): no Role table was found; run the shipped migrations",
    ]);
    await ds.destroy();
  });

  it("assertSecurityModels throws one typed error listing every problem", async () => {
    const user = { ...USER_COLUMNS };
    delete user.confirmed_at;
    delete user.login_count;
    const ds = await db.dataSource(handWritten(user), { synchronize: true, dropSchema: true });
    await expect(assertSecurityModels(ds, { trackable: true })).rejects.toThrow(SecurityModelsCheckError);
    const error = await assertSecurityModels(ds, { confirmable: true, trackable: true }, { live: true }).catch((e) => e);
    expect(error.problems.map((p: SecurityModelProblem) => `${p.source}:${p.field}`)).toEqual([
      "entity:confirmed_at",
      "entity:login_count",
      "database:confirmed_at",
      "database:login_count",
    ]);
    expect(error.message).toMatch(
      /^AppUser\.confirmed_at: 4 problem\(s\) with the security models:\n- AppUser\.confirmed_at \(entity\): missing \(needed by confirmable\)\. Fix: extend UserMixinV1 or later, or declare the column confirmed_at datetime NULL\./,
    );
    await expect(assertSecurityModels(ds, { permissions: true }, { live: true })).resolves.toBeUndefined();
    await ds.destroy();
  });
});
