import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Standard Webhooks (https://www.standardwebhooks.com): `webhook-signature` carries
 * `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per active secret, separated by a space
 * (several only during a secret rotation). Secrets are `whsec_<base64>`; the key is the decoded
 * bytes, never the string. Whatever the public `standardwebhooks` package verifies must verify
 * here and the other way round; test/signing.test.ts checks both directions.
 */

const SECRET_PREFIX = 'whsec_';
/** Standard base64 with padding: the alphabet the reference libraries decode. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const TIMESTAMP = /^\d{1,15}$/;
/** Default window, the one the reference libraries use: five minutes either side of now. */
const DEFAULT_TOLERANCE_SEC = 300;

/** A new secret: `whsec_` + base64 of 32 random bytes. Shown once to its merchant. */
export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/**
 * The HMAC key a secret stands for. The `whsec_` prefix is optional, as in the reference
 * libraries. Throws on a malformed secret (a programmer or configuration error); the message
 * never repeats the secret.
 */
export function secretKeyBytes(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  // Buffer.from(…, 'base64') skips characters it does not know, so check the shape first.
  if (encoded.length === 0 || !BASE64.test(encoded)) {
    throw new TypeError('malformed webhook secret: expected whsec_ followed by padded base64');
  }
  return Buffer.from(encoded, 'base64');
}

/**
 * Decoded keys by secret string, so the hot path decodes each secret once. Bounded: when full it
 * starts over, which costs one decode per secret and keeps rotated-out secrets from piling up.
 */
const keyCache = new Map<string, Buffer>();
const KEY_CACHE_LIMIT = 10_000;

function cachedKey(secret: string): Buffer {
  let key = keyCache.get(secret);
  if (key === undefined) {
    key = secretKeyBytes(secret);
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
    keyCache.set(secret, key);
  }
  return key;
}

/** Seconds past this are year 5138: the caller passed milliseconds, a mistake worth a throw. */
const MAX_TIMESTAMP_SEC = 1e11;

function assertTimestamp(timestampSec: number): void {
  if (!Number.isInteger(timestampSec) || timestampSec < 0 || timestampSec >= MAX_TIMESTAMP_SEC) {
    throw new TypeError(`timestampSec must be whole seconds since the epoch (not milliseconds), got ${timestampSec}`);
  }
}

/** base64 HMAC-SHA256 of `${msgId}.${timestampSec}.${body}`; a Buffer body is hashed as its bytes. */
function sign(key: Buffer, msgId: string, timestampSec: number, body: string | Buffer): string {
  return createHmac('sha256', key).update(`${msgId}.${timestampSec}.`).update(body).digest('base64');
}

function headerFromKeys(keys: readonly Buffer[], msgId: string, timestampSec: number, body: string | Buffer): string {
  if (keys.length === 0) throw new TypeError('at least one secret is needed to sign');
  assertTimestamp(timestampSec);
  let header = '';
  for (const key of keys) {
    header += (header === '' ? 'v1,' : ' v1,') + sign(key, msgId, timestampSec, body);
  }
  return header;
}

function headersFrom(msgId: string, timestampSec: number, signature: string): Record<string, string> {
  return { 'webhook-id': msgId, 'webhook-timestamp': String(timestampSec), 'webhook-signature': signature };
}

/**
 * Signs with a fixed set of secrets decoded once at construction: for a caller that holds one
 * merchant's secrets across many deliveries.
 */
export class Signer {
  private readonly keys: readonly Buffer[];

  /** Throws when `secrets` is empty or one of them is malformed. */
  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new TypeError('at least one secret is needed to sign');
    this.keys = secrets.map(secretKeyBytes);
  }

  /** The `webhook-signature` value: one `v1,<base64>` per secret, space-separated. */
  signatureHeader(msgId: string, timestampSec: number, body: string | Buffer): string {
    return headerFromKeys(this.keys, msgId, timestampSec, body);
  }

  /** The three Standard Webhooks headers for one attempt. */
  signedHeaders(msgId: string, timestampSec: number, body: string | Buffer): Record<string, string> {
    return headersFrom(msgId, timestampSec, this.signatureHeader(msgId, timestampSec, body));
  }
}

/**
 * The `webhook-signature` value: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` for each secret,
 * joined by a single space. Keys are cached by secret string, so repeated calls do not re-decode.
 */
export function signatureHeader(secrets: readonly string[], msgId: string, timestampSec: number, body: string | Buffer): string {
  return headerFromKeys(secrets.map(cachedKey), msgId, timestampSec, body);
}

/** The three Standard Webhooks headers: `webhook-id`, `webhook-timestamp`, `webhook-signature`. */
export function signedHeaders(
  secrets: readonly string[],
  msgId: string,
  timestampSec: number,
  body: string | Buffer,
): Record<string, string> {
  return headersFrom(msgId, timestampSec, signatureHeader(secrets, msgId, timestampSec, body));
}

/** Why a request failed verification; names are stable (the receiver answers them in its 401). */
export type VerifyFailure = 'missing_headers' | 'invalid_timestamp' | 'timestamp_out_of_tolerance' | 'invalid_signature';

/** The outcome of verifying one request: a value, never an exception, since bad input is expected. */
export type VerifyResult = { ok: true; msgId: string; timestampSec: number } | { ok: false; reason: VerifyFailure };

/** Options of {@link verifyWebhook}. */
export interface VerifyOptions {
  /** Largest allowed distance, either way, between the timestamp and now. Default 300. */
  toleranceSec?: number;
  /** Now, in seconds since the epoch; default the clock. For tests. */
  nowSec?: number;
}

type Headers = Record<string, string | string[] | undefined>;

/** A header by case-insensitive name; `undefined` when absent, empty or sent more than once. */
function single(headers: Headers, name: string): string | undefined {
  const value = lookup(headers, name);
  if (Array.isArray(value)) return value.length === 1 ? value[0] || undefined : undefined;
  return value || undefined;
}

function lookup(headers: Headers, name: string): string | string[] | undefined {
  const direct = headers[name];
  if (direct !== undefined) return direct;
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() === name) return headers[key];
  }
  return undefined;
}

/** True when any `v1,` entry of the header equals `expected`, compared in constant time. */
function matches(signatureValue: string, expected: Buffer): boolean {
  let found = false;
  for (const item of signatureValue.split(' ')) {
    // node:http joins a header sent twice with ", ", leaving a trailing comma on all but the last.
    const entry = item.endsWith(',') ? item.slice(0, -1) : item;
    const comma = entry.indexOf(',');
    if (comma === -1 || entry.slice(0, comma) !== 'v1') continue;
    const given = Buffer.from(entry.slice(comma + 1));
    // Lengths are public (44 characters for SHA-256); only equal-length buffers are compared.
    if (given.length === expected.length && timingSafeEqual(given, expected)) found = true;
  }
  return found;
}

/**
 * Verifies a Standard Webhooks request against one secret or several (during a rotation): headers
 * present, timestamp an integer within `toleranceSec` of now, and some `v1,` signature matching
 * some secret. Other signature versions are ignored. Header names are case-insensitive. The body
 * must be the exact bytes received. Throws only when a secret itself is malformed.
 */
export function verifyWebhook(
  secret: string | readonly string[],
  headers: Headers,
  body: string | Buffer,
  opts: VerifyOptions = {},
): VerifyResult {
  const msgId = single(headers, 'webhook-id');
  const timestamp = single(headers, 'webhook-timestamp');
  const signatures = lookup(headers, 'webhook-signature');
  const signatureValue = Array.isArray(signatures) ? signatures.join(' ') : signatures;
  if (msgId === undefined || timestamp === undefined || !signatureValue) {
    return { ok: false, reason: 'missing_headers' };
  }
  if (!TIMESTAMP.test(timestamp)) return { ok: false, reason: 'invalid_timestamp' };
  const timestampSec = Number(timestamp);
  const nowSec = opts.nowSec ?? Math.floor(Date.now() / 1000);
  const toleranceSec = opts.toleranceSec ?? DEFAULT_TOLERANCE_SEC;
  if (Math.abs(nowSec - timestampSec) > toleranceSec) return { ok: false, reason: 'timestamp_out_of_tolerance' };

  const secrets: readonly string[] = typeof secret === 'string' ? [secret] : secret;
  let ok = false;
  for (const s of secrets) {
    // No early exit: the time taken does not tell which secret matched.
    if (matches(signatureValue, Buffer.from(sign(cachedKey(s), msgId, timestampSec, body)))) ok = true;
  }
  return ok ? { ok: true, msgId, timestampSec } : { ok: false, reason: 'invalid_signature' };
}
