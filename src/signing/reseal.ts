import { pKeyOwner } from '../formats/epayco.js';
import type { Store, StoredCredential } from '../store/store.js';
import { Keyring, KeyringError } from './keyring.js';
import { openSigningSecret, sealSigningSecret } from './sealed-secrets.js';

/**
 * Brings every stored merchant credential under the current master key: signing secrets stored
 * before CONFIRMA_MASTER_KEY was set are sealed, and values sealed under a previous key (during a
 * master-key rotation) are opened with it and sealed again with the current one. After a run that
 * leaves nothing `failed`, no stored value needs CONFIRMA_MASTER_KEY_PREVIOUS any more.
 *
 * Each value is replaced only if it is still what was read (a rotation or a PATCH meanwhile wins;
 * it is counted as `changedMeanwhile` and a second run handles it). Nodes read the new values on
 * their next merchant reload; they must already have the current key.
 */
export interface ResealReport {
  /** Signing secrets that were stored unsealed and are now sealed. */
  readonly sealed: number;
  /** Values sealed under a previous key, now under the current one. */
  readonly resealed: number;
  /** Already sealed under the current key: left as they are. */
  readonly current: number;
  /** Changed by someone else between reading and writing: left to them. */
  readonly changedMeanwhile: number;
  /** Values that could not be opened (never the value itself: what it is, whose, and why). */
  readonly failed: ReadonlyArray<{
    readonly kind: StoredCredential['kind'];
    readonly merchantId: string;
    readonly reason: string;
  }>;
}

export async function resealCredentials(store: Store, keyring: Keyring): Promise<ResealReport> {
  let sealed = 0;
  let resealed = 0;
  let current = 0;
  let changedMeanwhile = 0;
  const failed: Array<{ kind: StoredCredential['kind']; merchantId: string; reason: string }> = [];
  for (const c of await store.listStoredCredentials()) {
    const under = Keyring.sealedUnder(c.stored);
    if (under === keyring.keyId) {
      current++;
      continue;
    }
    let next: string;
    try {
      next =
        c.kind === 'signing_secret'
          ? reseal(keyring, c.merchantId, c.stored)
          : keyring.seal(keyring.open(c.stored, pKeyOwner(c.merchantId)), pKeyOwner(c.merchantId));
    } catch (err) {
      if (!(err instanceof KeyringError)) throw err;
      failed.push({ kind: c.kind, merchantId: c.merchantId, reason: err.message });
      continue;
    }
    if (!(await store.replaceStoredCredential(c, next))) changedMeanwhile++;
    else if (under === undefined) sealed++;
    else resealed++;
  }
  return { sealed, resealed, current, changedMeanwhile, failed };
}

/** A signing secret's stored form under the current key, from its plain or sealed stored form. */
function reseal(keyring: Keyring, merchantId: string, stored: string): string {
  const secret = openSigningSecret(keyring, merchantId, stored);
  if (!secret.startsWith('whsec_'))
    throw new KeyringError('the stored signing secret is neither a whsec_ secret nor a sealed value');
  return sealSigningSecret(keyring, merchantId, secret);
}
