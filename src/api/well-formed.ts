import type { FastifyRequest } from 'fastify';
import { ConfirmaError } from '../errors.js';
import { fieldOf } from './field-path.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * A body array whose items the route checks one by one (`checkItem`), so one bad item of a
     * batch is refused in its own result instead of refusing the whole batch.
     */
    itemsCheckedByRoute?: string;
  }
}

declare global {
  interface String {
    /** ES2024, in Node 20: false when the string holds a lone surrogate. */
    isWellFormed(): boolean;
    /** ES2024, in Node 20: lone surrogates replaced with U+FFFD. */
    toWellFormed(): string;
  }
}

/**
 * Rules for every string a request carries, checked once before any route reads it:
 *
 * - Well-formed Unicode. JSON's `\ud800` escape makes a lone surrogate that valid UTF-8 cannot
 *   carry: stored, it comes back as U+FFFD, and the same request retried then no longer matches
 *   its idempotency record. Headers (Latin-1) and path and query parameters (percent-decoded
 *   UTF-8) cannot hold one, so only bodies are walked for it.
 * - No U+0000: PostgreSQL cannot store it in text, and one such row would fail the whole group
 *   commit it shares with other clients' writes.
 * - In bodies, no key `__proto__`, `constructor` or `prototype` anywhere (docs/security.md), and
 *   no nesting deeper than MAX_DEPTH (our bodies have 3 levels; the walk then stays shallow).
 *
 * The walk is one pass that builds no strings unless it refuses something.
 */

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const MAX_DEPTH = 32;

function refused(
  code: 'invalid_encoding' | 'invalid_field' | 'invalid_body',
  path: readonly string[],
  rule: string,
): ConfirmaError {
  const field = fieldOf(path);
  return new ConfirmaError(code, `${field ?? 'the body'} ${rule}`, field === undefined ? {} : { field });
}

function checkText(text: string, path: readonly string[], isKey: boolean): void {
  const what = isKey ? 'is a key that' : 'is a string that';
  if (!text.isWellFormed()) {
    throw refused('invalid_encoding', path, `${what} is not well-formed Unicode (it holds a lone surrogate such as \\ud800)`);
  }
  if (text.includes('\u0000')) throw refused('invalid_encoding', path, `${what} holds U+0000 (NUL), which cannot be stored`);
}

function visit(value: unknown, path: string[], depth: number): void {
  if (typeof value === 'string') {
    checkText(value, path, false);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  if (depth === MAX_DEPTH) throw refused('invalid_body', path, `is nested deeper than ${MAX_DEPTH} levels`);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      path.push(String(i));
      visit(value[i], path, depth + 1);
      path.pop();
    }
    return;
  }
  for (const key of Object.keys(value)) {
    path.push(key);
    checkText(key, path, true);
    if (FORBIDDEN_KEYS.has(key)) {
      throw refused(
        'invalid_field',
        path,
        'is not an allowed key: __proto__, constructor and prototype are refused anywhere in a body',
      );
    }
    visit((value as Record<string, unknown>)[key], path, depth + 1);
    path.pop();
  }
}

/**
 * Checks a parsed JSON body; throws `invalid_encoding`, `invalid_field` or `invalid_body` naming
 * the path. With `itemsOf`, the items of that top-level array are left to `checkItem`.
 */
export function checkBody(body: unknown, itemsOf?: string): void {
  if (
    itemsOf === undefined ||
    typeof body !== 'object' ||
    body === null ||
    !Array.isArray((body as Record<string, unknown>)[itemsOf])
  ) {
    visit(body, [], 0);
    return;
  }
  const rest = { ...(body as Record<string, unknown>), [itemsOf]: [] };
  visit(rest, [], 0);
}

/** Checks item `index` of the array `itemsOf` that `checkBody` left out. */
export function checkItem(item: unknown, itemsOf: string, index: number): void {
  visit(item, [itemsOf, String(index)], 2);
}

/** Path and query parameters: no U+0000 (they go into store lookups). */
export function checkParams(request: FastifyRequest): void {
  for (const [name, value] of Object.entries((request.params ?? {}) as Record<string, unknown>)) {
    if (typeof value === 'string' && value.includes('\u0000')) {
      throw new ConfirmaError('invalid_path', `path parameter ${name} holds U+0000 (NUL)`, { field: name });
    }
  }
  for (const [name, value] of Object.entries((request.query ?? {}) as Record<string, unknown>)) {
    const values = Array.isArray(value) ? value : [value];
    if (values.some((v) => typeof v === 'string' && v.includes('\u0000')) || name.includes('\u0000')) {
      const field = name.replaceAll('\u0000', '\\u0000');
      throw new ConfirmaError('invalid_query', `${field} holds U+0000 (NUL)`, { field });
    }
  }
}
