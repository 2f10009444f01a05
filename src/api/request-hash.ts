import { createHash } from 'node:crypto';

/** The idempotency hash of a request: equal requests, whatever their key order, hash the same. */

/** JSON with object keys sorted at every level, so equal requests serialize to equal bytes. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  const parts = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`);
  return `{${parts.join(',')}}`;
}

/** SHA-256 (hex) of the canonical JSON of a checked request. */
export function requestHash(v: unknown): string {
  return createHash('sha256').update(canonicalJson(v)).digest('hex');
}
