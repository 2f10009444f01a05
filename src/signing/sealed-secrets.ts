import { Keyring, KeyringError } from './keyring.js';

/**
 * Signing secrets at rest. With CONFIRMA_MASTER_KEY set, a merchant's `whsec_` secrets are stored
 * sealed (AES-256-GCM, bound to the merchant id, with the id of the key that sealed them); the
 * dispatcher opens them to sign. Without a master key they are stored as they are, and the node
 * warns at start-up. A stored value tells which it is: sealed values start with `v1.`.
 */
const owner = (merchantId: string): string => `whsec:${merchantId}`;

/** The form to store: sealed when there is a keyring, the secret itself otherwise. */
export function sealSigningSecret(keyring: Keyring | undefined, merchantId: string, secret: string): string {
  return keyring === undefined ? secret : keyring.seal(secret, owner(merchantId));
}

/** The secret to sign with, from its stored form; throws KeyringError when it cannot be opened. */
export function openSigningSecret(keyring: Keyring | undefined, merchantId: string, stored: string): string {
  if (stored.startsWith('whsec_')) return stored;
  if (keyring === undefined) {
    throw new KeyringError('the signing secret is sealed, but this node has no CONFIRMA_MASTER_KEY');
  }
  return keyring.open(stored, owner(merchantId));
}
