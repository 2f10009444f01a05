import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Store, Scope } from '../store/store.js';
import { ConfirmaError } from '../errors.js';

/**
 * Who is calling: `Authorization: Bearer <key>` with either the admin key (from configuration) or a
 * merchant key (stored only as a SHA-256 hash). A merchant key sees only its own merchant; asking
 * about anything else answers 404, never 403, so ids of other merchants cannot be probed.
 */
export interface Auth {
  readonly scope: Scope;
  /** The key's id; `admin` for the configured admin key. Scopes idempotency keys. */
  readonly keyId: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every non-public route. */
    auth: Auth | null;
  }
  interface FastifyContextConfig {
    /** Public routes (health, OpenAPI) skip authentication. */
    public?: boolean;
    /** Routes only the admin may use: a merchant key answers 403 before its body is read. */
    adminOnly?: boolean;
  }
}

/** Readable prefixes of merchant and admin keys, so a leaked key is recognisable in logs and scanners. */
export const API_KEY_PREFIX = 'cfm_mk_';
export const ADMIN_KEY_PREFIX = 'cfm_ak_';

/** The stored form of a key: SHA-256 hex. Keys are 256-bit random, so no slow hash is needed. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** A new key: `cfm_mk_` (merchant) or `cfm_ak_` (admin) + base64url of 32 random bytes; shown once, stored as its hash. */
export function generateApiKey(kind: 'merchant' | 'admin' = 'merchant'): { key: string; prefix: string; hash: string } {
  const key = (kind === 'admin' ? ADMIN_KEY_PREFIX : API_KEY_PREFIX) + randomBytes(32).toString('base64url');
  return { key, prefix: key.slice(0, 12), hash: hashKey(key) };
}

/** Compares in constant time: both sides are hashed first so their lengths never leak. */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The bearer token of a request, or undefined. */
function bearer(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer[ ]+(\S{1,512})[ ]*$/i.exec(header);
  return m?.[1];
}

/** Resolves the caller of a request; throws `unauthorized` for a missing or unknown key. */
export async function authenticate(authorization: string | undefined, adminKey: string | undefined, store: Store): Promise<Auth> {
  const key = bearer(authorization);
  if (key === undefined) throw new ConfirmaError('unauthorized');
  if (adminKey !== undefined && sameSecret(key, adminKey)) return { scope: { kind: 'admin' }, keyId: 'admin' };
  const found = await store.findApiKey(hashKey(key));
  if (found === undefined) throw new ConfirmaError('unauthorized');
  return found.merchantId === null
    ? { scope: { kind: 'admin' }, keyId: found.id }
    : { scope: { kind: 'merchant', merchantId: found.merchantId }, keyId: found.id };
}

/** The caller of an authenticated route; a route without auth is a programmer error. */
export function authOf(request: FastifyRequest): Auth {
  if (request.auth === null) throw new Error(`route ${request.routeOptions.url ?? '?'} ran without authentication`);
  return request.auth;
}

/** Collection routes only the admin may use (`POST/GET /v1/merchants`): 403 for a merchant key. */
export function requireAdmin(auth: Auth): void {
  if (auth.scope.kind !== 'admin') throw new ConfirmaError('forbidden', 'this route needs the admin key');
}

/** Whether the caller may see a merchant's resources. */
export function canSee(auth: Auth, merchantId: string): boolean {
  return auth.scope.kind === 'admin' || auth.scope.merchantId === merchantId;
}

/** A route naming a merchant id: another merchant's id answers 404 as if it did not exist. */
export function requireMerchantVisible(auth: Auth, merchantId: string): void {
  if (!canSee(auth, merchantId)) throw new ConfirmaError('merchant_not_found', `merchant ${merchantId} does not exist`);
}

/**
 * The merchant a query's `merchantId` names for this caller: for a merchant key its own (naming
 * another answers 404 `merchant_not_found`, as one that does not exist does); for the admin the
 * one named, or undefined: every merchant.
 */
export function queriedMerchant(auth: Auth, merchantId: string | undefined): string | undefined {
  if (auth.scope.kind === 'admin') return merchantId;
  if (merchantId !== undefined && merchantId !== auth.scope.merchantId) {
    throw new ConfirmaError('merchant_not_found', `merchant ${merchantId} does not exist`, { field: 'merchantId' });
  }
  return auth.scope.merchantId;
}
