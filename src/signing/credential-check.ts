import { ConfigError } from '../config.js';
import type { StoredCredential } from '../store/store.js';
import { Keyring } from './keyring.js';

/**
 * The start-up check of the stored merchant credentials against the node's master keys. A node
 * that cannot open the sealed values would start, take claims and fail every attempt with a
 * signing error until the confirmations go dead; so a node with no master key on a store holding
 * sealed values, or with master keys that open none of them, refuses to start instead, naming the
 * variable to fix. Only the key ids the sealed values carry are compared (nothing is decrypted),
 * so the check costs one read of the credentials whatever their number.
 */

/** Sealed values this node's keys cannot open, when others do open: reported, not refused. */
export interface UnopenedCredentials {
  /** How many sealed values carry a key id the node lacks. */
  readonly count: number;
  /** Those key ids (public fingerprints, never keys). */
  readonly keyIds: readonly string[];
  /** The merchants concerned (at most 20 named). */
  readonly merchantIds: readonly string[];
}

/** Throws ConfigError when the node cannot open any sealed credential; returns what it cannot open otherwise. */
export function checkCredentialKeys(
  credentials: readonly StoredCredential[],
  keyring: Keyring | undefined,
): UnopenedCredentials | undefined {
  const sealed = credentials.flatMap((c) => {
    const keyId = Keyring.sealedUnder(c.stored);
    return keyId === undefined ? [] : [{ keyId, merchantId: c.merchantId }];
  });
  if (sealed.length === 0) return undefined;
  const unopened = keyring === undefined ? sealed : sealed.filter((s) => !keyring.has(s.keyId));
  if (unopened.length === 0) return undefined;
  const keyIds = [...new Set(unopened.map((s) => s.keyId))];
  const under = `master key${keyIds.length === 1 ? '' : 's'} ${keyIds.join(', ')}`;
  if (keyring === undefined) {
    throw new ConfigError(
      `CONFIRMA_MASTER_KEY is not set, but the store holds ${sealed.length} merchant credential(s) sealed under ${under}: ` +
        'without it no confirmation of those merchants can be signed. Set CONFIRMA_MASTER_KEY to the key they were sealed with ' +
        '(the one the other nodes use)',
    );
  }
  if (unopened.length === sealed.length) {
    throw new ConfigError(
      `CONFIRMA_MASTER_KEY (key ${keyring.keyId}) and CONFIRMA_MASTER_KEY_PREVIOUS open none of the ${sealed.length} merchant ` +
        `credential(s) in the store, which are sealed under ${under}: the key is wrong or mistyped. Set CONFIRMA_MASTER_KEY to ` +
        'the key they were sealed with, or keep it in CONFIRMA_MASTER_KEY_PREVIOUS during a rotation until confirma reseal has run',
    );
  }
  return { count: unopened.length, keyIds, merchantIds: [...new Set(unopened.map((s) => s.merchantId))].slice(0, 20) };
}
