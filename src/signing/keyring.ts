import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/**
 * Encryption at rest for merchant credentials Confirma must be able to read back (the ePayco
 * `p_key`): AES-256-GCM under a master key from `CONFIRMA_MASTER_KEY`. A sealed value carries the
 * id of the key that sealed it, so a later rotation can keep old keys for opening while sealing
 * with the new one. The associated data binds a ciphertext to its owner (e.g. the merchant id),
 * so a value copied onto another row does not open.
 *
 * Sealed form: `v1.<keyId>.<iv base64url>.<ciphertext+tag base64url>`.
 */

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Parses a 32-byte key given as 64 hex digits or as base64 (standard or url-safe); throws naming the variable. */
export function parseMasterKey(raw: string, name = 'CONFIRMA_MASTER_KEY'): Buffer {
  const text = raw.trim();
  let key: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(text)) key = Buffer.from(text, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) key = Buffer.from(text, 'base64');
  if (key === undefined || key.length !== 32) {
    throw new TypeError(
      `${name} must be 32 random bytes written as 64 hex digits or as base64 ` +
        `(e.g. node -e "console.log(require('crypto').randomBytes(32).toString('base64'))")`,
    );
  }
  return key;
}

/** Why a sealed value could not be opened (never includes the value). */
export class KeyringError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyringError';
  }
}

/** Seals and opens small secrets under a master key. */
export class Keyring {
  /** Short public fingerprint of the current key, stored with every sealed value. */
  readonly keyId: string;
  private readonly keys: ReadonlyMap<string, Buffer>;

  /** `current` seals; `previous` keys (after a rotation) only open. */
  constructor(current: Buffer, previous: readonly Buffer[] = []) {
    this.keyId = fingerprint(current);
    this.keys = new Map([[this.keyId, current], ...previous.map((k): [string, Buffer] => [fingerprint(k), k])]);
  }

  /** Whether this keyring holds the key a sealed value names (see {@link sealedUnder}). */
  has(keyId: string): boolean {
    return this.keys.has(keyId);
  }

  /** Encrypts `plaintext`, bound to `aad` (the owner's id): a fresh IV every time. */
  seal(plaintext: string, aad: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.keyId)!, iv);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${VERSION}.${this.keyId}.${iv.toString('base64url')}.${ct.toString('base64url')}`;
  }

  /** The id of the key a sealed value names, or undefined when `value` is not in the sealed form. */
  static sealedUnder(value: string): string | undefined {
    const parts = value.split('.');
    return parts.length === 4 && parts[0] === VERSION ? parts[1] : undefined;
  }

  /** Decrypts a value made by {@link seal} with the same `aad`; throws KeyringError otherwise. */
  open(sealed: string, aad: string): string {
    const parts = sealed.split('.');
    if (parts.length !== 4 || parts[0] !== VERSION) throw new KeyringError('sealed value has an unknown format');
    const key = this.keys.get(parts[1]!);
    if (key === undefined) {
      throw new KeyringError(`sealed under master key ${parts[1]}, which this node does not have (it has ${this.keyId})`);
    }
    const iv = Buffer.from(parts[2]!, 'base64url');
    const data = Buffer.from(parts[3]!, 'base64url');
    if (iv.length !== IV_BYTES || data.length < TAG_BYTES) throw new KeyringError('sealed value is truncated');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      return Buffer.concat([decipher.update(data.subarray(0, data.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new KeyringError('sealed value does not open: wrong key, wrong owner or tampered');
    }
  }
}

/** The key id: 8 bytes of SHA-256 over a label and the key, in hex. Reveals nothing usable about the key. */
function fingerprint(key: Buffer): string {
  return createHash('sha256').update('confirma-master-key\0').update(key).digest('hex').slice(0, 16);
}

/** The keyring of a configuration (current key and any previous ones), or undefined when no master key is set. */
export function keyringOf(config: {
  readonly masterKey: string | undefined;
  readonly masterKeyPrevious?: readonly string[];
}): Keyring | undefined {
  if (config.masterKey === undefined) return undefined;
  const previous = (config.masterKeyPrevious ?? []).map((k) => parseMasterKey(k, 'CONFIRMA_MASTER_KEY_PREVIOUS'));
  return new Keyring(parseMasterKey(config.masterKey), previous);
}
