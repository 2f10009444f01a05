import type { ErrorObject } from 'ajv';
import { parseCurrency } from '../domain/money.js';
import { containsCardNumber } from '../domain/pan.js';
import { parseStatus } from '../domain/status.js';
import { ConfirmaError, type ErrorCode } from '../errors.js';
import { fieldOf } from './field-path.js';
import { X_ERROR, type ErrorAnswer, type ErrorAnswers } from './schemas/schema.js';

/**
 * Turns the first error ajv reports into the catalog's answer: a code, the field as a dotted path
 * (`transactions.3.amount`), and a message a person can act on, "<field> <rule><what it is>":
 * `amount must be a decimal string such as "123.45" (…), not a number`. The code and rule come
 * from the failing node's `x-error` annotation (`schemas/schema.ts`) when it has one; otherwise
 * the code follows from the keyword and where the value sits, and the rule is written from the
 * schema's own keywords. Values are never echoed, except a number that cannot be a card number.
 */

/** Where in the request a schema applies: Fastify's names. */
export type SchemaPart = 'body' | 'querystring' | 'params' | 'headers';

type Schema = Readonly<Record<string, unknown>>;

/**
 * Codes whose domain parser says more about a refused value than the schema can: that statuses
 * are lowercase ("Approved" → send "approved"), that a currency must be uppercase (send "COP") or
 * is not in use. The schema decides that the value is refused; its parser only words the answer.
 */
const DOMAIN_EXPLAINED: Partial<Record<ErrorCode, (value: unknown, field: string) => unknown>> = {
  invalid_status: (v, field) => parseStatus(v, field),
  invalid_currency: (v, field) => parseCurrency(v, field),
};

/** The domain parser's wording of why `value` is refused, when it has one for `code`. */
function domainExplanation(code: ErrorCode, value: unknown, field: string | undefined): string | undefined {
  const explain = field === undefined ? undefined : DOMAIN_EXPLAINED[code];
  if (explain === undefined || field === undefined) return undefined;
  try {
    explain(value, field);
  } catch (err) {
    if (err instanceof ConfirmaError && err.code === code) return err.message;
  }
  return undefined;
}

/** Keywords whose error is about a child (a missing or an unknown field), not the node itself. */
const CHILD_KEYWORDS = new Set(['required', 'additionalProperties']);

const TYPE_WORDS: Readonly<Record<string, string>> = {
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  object: 'a JSON object',
  array: 'an array',
  null: 'null',
};

/** A JSON pointer (`/transactions/3/amount`) as its keys. */
function pointer(instancePath: string): string[] {
  if (instancePath === '') return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** `idempotency-key` → `Idempotency-Key`: Fastify matches headers in lowercase, people write them like this. */
function headerName(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
}

/** A number as shown in a message, unless it could be a card number. */
function shownNumber(n: number): string | undefined {
  // Past 2^53 the parser has already rounded it: showing that would only confuse.
  if (Math.abs(n) > Number.MAX_SAFE_INTEGER) return undefined;
  const s = String(n);
  return containsCardNumber(s) ? undefined : s;
}

/** What a value is, for "must be X, not Y"; a number is shown where only its value is wrong (2.5 for an integer). */
function describe(v: unknown, numeric: boolean): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return (numeric ? shownNumber(v) : undefined) ?? 'a number';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

/** A bound as a schema keyword holds it (a number), for a message. */
function bound(v: unknown): string {
  return typeof v === 'number' ? String(v) : JSON.stringify(v);
}

function between(min: unknown, max: unknown, unit: (n: unknown) => string, single: string): string {
  if (min !== undefined && max !== undefined) return `${single} ${bound(min)} to ${unit(max)}`;
  if (max !== undefined) return `${single} at most ${unit(max)}`;
  return `${single} at least ${unit(min)}`;
}

/** The rule a keyword states, written from the schema node that holds it. */
function writtenRule(e: ErrorObject, s: Schema, part: SchemaPart): string {
  switch (e.keyword) {
    case 'type': {
      const types = Array.isArray(s.type) ? (s.type as string[]) : [String(s.type)];
      return `must be ${types.map((t) => TYPE_WORDS[t] ?? t).join(' or ')}`;
    }
    case 'minLength':
    case 'maxLength':
      return `${between(s.minLength, s.maxLength, (n) => `${String(n)} characters`, 'must be')} long`;
    case 'minimum':
    case 'maximum':
      if (s.minimum !== undefined && s.maximum !== undefined)
        return `must be between ${bound(s.minimum)} and ${bound(s.maximum)}`;
      return s.maximum !== undefined ? `must be at most ${bound(s.maximum)}` : `must be at least ${bound(s.minimum)}`;
    case 'minItems':
    case 'maxItems':
      return between(s.minItems, s.maxItems, (n) => `${String(n)} items`, 'must hold');
    case 'minProperties': {
      const names = Object.keys((s.properties as Schema | undefined) ?? {});
      return names.length > 0
        ? `must name at least one of: ${names.join(', ')}`
        : `must have at least ${String(s.minProperties)} keys`;
    }
    case 'maxProperties':
      return `must have at most ${String(s.maxProperties)} keys`;
    case 'enum':
      return `must be one of: ${(s.enum as unknown[]).map(String).join(', ')}`;
    case 'const':
      return `must be ${JSON.stringify(s.const)}`;
    case 'pattern':
      return `must match ${String(s.pattern)}`;
    case 'required':
      return 'is required';
    case 'additionalProperties': {
      const what = part === 'querystring' ? 'query parameter' : 'field';
      const allowed = Object.keys((s.properties as Schema | undefined) ?? {});
      return allowed.length > 0
        ? `is not a known ${what} (allowed: ${allowed.join(', ')})`
        : `is not a known ${what}: none is allowed here`;
    }
    default:
      return `breaks the schema's ${e.keyword} rule`;
  }
}

/** What the value was, where saying so helps and echoes nothing: ", not a string", "; it is 129". */
function observed(e: ErrorObject, s: Schema): string {
  const v: unknown = e.data;
  switch (e.keyword) {
    case 'type': {
      const types = Array.isArray(s.type) ? (s.type as unknown[]) : [s.type];
      return `, not ${describe(v, types.includes('integer') || types.includes('number'))}`;
    }
    case 'minLength':
    case 'maxLength':
      return typeof v === 'string' ? `; it is ${v.length}` : '';
    case 'minimum':
    case 'maximum': {
      const shown = typeof v === 'number' ? shownNumber(v) : undefined;
      return shown === undefined ? '' : `; it is ${shown}`;
    }
    case 'minItems':
    case 'maxItems':
      return Array.isArray(v) ? (v.length === 0 ? '; it is empty' : `; it holds ${v.length}`) : '';
    case 'minProperties':
    case 'maxProperties':
      return typeof v === 'object' && v !== null ? `; it has ${Object.keys(v).length}` : '';
    default:
      return '';
  }
}

/**
 * ajv checks `required` before `additionalProperties`, so `{"stauts": "approved"}` would answer
 * "status is required"; the unknown field is the one to name (it is the typo to fix), as the
 * checks before these schemas did.
 */
function unknownBeforeMissing(e: ErrorObject): ErrorObject {
  const s = e.parentSchema;
  if (e.keyword !== 'required' || s?.additionalProperties !== false) return e;
  if (typeof e.data !== 'object' || e.data === null || Array.isArray(e.data)) return e;
  const known = (s.properties as Schema | undefined) ?? {};
  const unknown = Object.keys(e.data).find((k) => !Object.hasOwn(known, k));
  return unknown === undefined ? e : { ...e, keyword: 'additionalProperties', params: { additionalProperty: unknown } };
}

function defaultCode(part: SchemaPart, keyword: string, isRoot: boolean): ErrorCode {
  if (part === 'querystring') return 'invalid_query';
  if (part === 'params') return 'invalid_path';
  if (keyword === 'required') return 'missing_field';
  if (keyword === 'additionalProperties') return 'unknown_field';
  return isRoot ? 'invalid_body' : 'invalid_field';
}

/**
 * The catalog error for ajv's error `e` (compiled with `verbose`, so it carries the failing
 * node and the value). `prefix` is where the checked value sits in the body, e.g.
 * `['transactions', '3']` for a batch item.
 */
export function schemaError(first: ErrorObject, part: SchemaPart, prefix: readonly string[] = []): ConfirmaError {
  const e = unknownBeforeMissing(first);
  const s: Schema = e.parentSchema ?? {};
  const node = s[X_ERROR] as ErrorAnswers | undefined;
  const forKeyword: ErrorAnswer | undefined = node?.keywords?.[e.keyword];
  const forNode: ErrorAnswer | undefined = CHILD_KEYWORDS.has(e.keyword) ? undefined : node;

  const path = [...prefix, ...pointer(e.instancePath)];
  let lead = '';
  if (e.keyword === 'required') path.push(String(e.params.missingProperty));
  else if (e.keyword === 'additionalProperties') path.push(String(e.params.additionalProperty));
  else if (e.propertyName !== undefined) {
    // A key broke `propertyNames`: the key is the field, the node is the rule all keys follow.
    path.push(e.propertyName);
    lead = 'is not a valid key: keys ';
  }
  const field = fieldOf(part === 'headers' ? path.map(headerName) : path);
  const code = forKeyword?.code ?? forNode?.code ?? defaultCode(part, e.keyword, field === undefined);
  // Fastify gives a repeated query parameter as an array of its values.
  const repeated = part === 'querystring' && e.keyword === 'type' && Array.isArray(e.data);
  const rule = repeated ? 'must be given once' : (forKeyword?.rule ?? forNode?.rule ?? writtenRule(e, s, part));
  const message =
    domainExplanation(code, e.data, field) ?? `${field ?? 'the body'} ${lead}${rule}${repeated ? '' : observed(e, s)}`;
  return new ConfirmaError(code, message, field === undefined ? {} : { field });
}
