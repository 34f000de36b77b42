/**
 * Flask-Security's `reset_user_access` as one transaction: what lets anyone act as the user after a
 * compromise is replaced or removed at once, or (a process killed half-way, a failed statement) not at all.
 */
import type { EntityManager, EntityMetadata } from "typeorm";
import { newIdentityToken } from "../tokens";

/**
 * The user columns a reset writes, by property, among those `metadata` has: both uniquifiers rotated (every
 * session and auth token ends), the unified sign-in secrets and phone, the two-factor method, secret and
 * phone, and the recovery codes cleared. The password stays, as in Flask-Security.
 */
export function accessResetFields(metadata: EntityMetadata): Record<string, unknown> {
  const wanted: Record<string, () => unknown> = {
    fsUniquifier: newIdentityToken,
    fsTokenUniquifier: newIdentityToken,
    usTotpSecrets: () => null,
    usPhoneNumber: () => null,
    tfPrimaryMethod: () => null,
    tfTotpSecret: () => null,
    tfPhoneNumber: () => null,
    mfRecoveryCodes: () => null,
  };
  return Object.fromEntries(
    Object.entries(wanted)
      .filter(([property]) => metadata.findColumnWithPropertyName(property))
      .map(([property, value]) => [property, value()]),
  );
}

/**
 * In `manager`'s transaction: writes `fields` to the user and deletes its passkeys (the `webauthn` relation's
 * rows, V3 and later). Returns whether the user exists.
 */
export async function resetAccessRows(
  manager: EntityManager,
  metadata: EntityMetadata,
  userId: number,
  fields: Record<string, unknown>,
): Promise<boolean> {
  const updated = await manager
    .createQueryBuilder()
    .update(metadata.target)
    .set(fields)
    .where(`${manager.connection.driver.escape(metadata.primaryColumns[0].databaseName)} = :userId`, { userId })
    .updateEntity(false)
    .execute();
  if ((updated.affected ?? 0) === 0) return false;
  const passkeys = metadata.findRelationWithPropertyPath("webauthn")?.inverseEntityMetadata;
  if (passkeys) {
    const owner = passkeys.findColumnWithPropertyName("userId")!.databaseName;
    await manager
      .createQueryBuilder()
      .delete()
      .from(passkeys.target)
      .where(`${manager.connection.driver.escape(owner)} = :userId`, { userId })
      .execute();
  }
  return true;
}
