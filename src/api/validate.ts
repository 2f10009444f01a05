import { createHash } from 'node:crypto';
import type { Config } from '../config.js';
import { checkUrlDestination, type AllowList } from '../dispatch/ssrf.js';
import { MAX_SCHEDULE_DELAY_SEC, MAX_SCHEDULE_ENTRIES } from '../dispatch/backoff.js';
import { longestAttemptMs } from '../dispatch/lease.js';
import { CONFIRMATION_STATES, type ConfirmationState } from '../domain/confirmation.js';
import { isValidClientId } from '../domain/ids.js';
import { FORMATS, type Format, type MerchantPatch } from '../domain/merchant.js';
import { parseAmount, parseCurrency } from '../domain/money.js';
import { parseStatus, type Status } from '../domain/status.js';
import type { Customer } from '../domain/transaction.js';
import { ConfirmaError, type ErrorCode } from '../errors.js';
import { refuseCardNumber, refuseCardNumberInKey, refuseCardNumberInUrl } from './card-numbers.js';

/**
 * Hand-written validation of every request body and query the API accepts. Strict on purpose:
 * an unknown field is refused (`unknown_field`) rather than ignored, so a typo such as `stauts`
 * never silently drops data. Each error names the field as a dotted path
 * (`transactions.3.amount`) and the rule it broke; nothing here ever answers 5xx.
 */

type Obj = Record<string, unknown>;

/** Limits the rules below enforce; the OpenAPI document quotes the same numbers. */
export const LIMITS = {
  nameMax: 200,
  urlMax: 2048,
  maxInFlightMax: 1000,
  timeoutMsMin: 100,
  timeoutMsMax: 120_000,
  retryScheduleMaxItems: MAX_SCHEDULE_ENTRIES,
  retryDelayMaxSec: MAX_SCHEDULE_DELAY_SEC,
  referenceMax: 128,
  merchantIdMax: 128,
  customerNameMax: 200,
  customerPhoneMax: 32,
  metadataMaxKeys: 50,
  metadataKeyMax: 64,
  metadataStringMax: 500,
  metadataMaxBytes: 8192,
  batchMax: 1000,
  idempotencyKeyMax: 255,
  pageMax: 500,
  pageDefault: 100,
  cursorMax: 128,
  epaycoCustIdMax: 64,
  epaycoPKeyMax: 256,
  referenceMatchesMax: 100,
} as const;

/** What the merchant rules need from the configuration. */
export interface MerchantRules {
  readonly requireHttps: boolean;
  /** Upper bound of `timeoutMs`: the attempt and its outcome's commit must fit in the lease. */
  readonly timeoutMsMax: number;
  readonly allowList: AllowList;
}

/** The largest `timeoutMs` a merchant may set under this configuration's lease. */
export function merchantTimeoutMsMax(config: Pick<Config, 'leaseMs'>): number {
  return Math.min(LIMITS.timeoutMsMax, longestAttemptMs(config.leaseMs));
}

export function merchantRules(config: Config, allowList: AllowList): MerchantRules {
  return {
    requireHttps: config.requireHttps,
    timeoutMsMax: merchantTimeoutMsMax(config),
    allowList,
  };
}

// --- small helpers ---

function fail(code: ErrorCode, field: string, rule: string): ConfirmaError {
  return new ConfirmaError(code, `${field} ${rule}`, { field });
}

function path(prefix: string, name: string): string {
  return prefix === '' ? name : `${prefix}.${name}`;
}

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `a string`, `null`, `an array`… for messages about a wrong type. */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  const t = typeof v;
  return t === 'object' ? 'an object' : t === 'undefined' ? 'missing' : `a ${t}`;
}

/** The body (or a nested object) must be a JSON object; `where` is its path or '' for the body. */
function requireObject(v: unknown, where: string): Obj {
  if (isObject(v)) return v;
  if (where === '') {
    throw new ConfirmaError('invalid_body', `the body must be a JSON object; it is ${describe(v)}`);
  }
  throw fail('invalid_field', where, `must be a JSON object; it is ${describe(v)}`);
}

/** Refuses fields not in `allowed`, naming the first one. */
function onlyFields(o: Obj, allowed: readonly string[], prefix: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) {
      throw fail('unknown_field', path(prefix, k), `is not a known field (allowed: ${allowed.join(', ')})`);
    }
  }
}

function has(o: Obj, k: string): boolean {
  return Object.hasOwn(o, k) && o[k] !== undefined;
}

function requireField(o: Obj, k: string, prefix: string): unknown {
  if (!has(o, k)) throw fail('missing_field', path(prefix, k), 'is required');
  return o[k];
}

function boundedString(v: unknown, field: string, min: number, max: number): string {
  if (typeof v !== 'string') throw fail('invalid_field', field, `must be a string; it is ${describe(v)}`);
  if (v.length < min || v.length > max) {
    throw fail('invalid_field', field, `must be ${min} to ${max} characters long; it is ${v.length}`);
  }
  return v;
}

function boundedInt(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw fail('invalid_field', field, `must be an integer; it is ${typeof v === 'number' ? String(v) : describe(v)}`);
  }
  if (v < min || v > max) throw fail('invalid_field', field, `must be between ${min} and ${max}; it is ${v}`);
  return v;
}

// --- merchants ---

/** A merchant's confirmation URL: absolute http(s), https only when required, and an allowed destination. */
export function validateUrl(v: unknown, field: string, rules: MerchantRules): string {
  if (typeof v !== 'string') throw fail('invalid_url', field, `must be a string holding an absolute URL; it is ${describe(v)}`);
  if (v.length > LIMITS.urlMax) throw fail('invalid_url', field, `must be at most ${LIMITS.urlMax} characters long`);
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw fail('invalid_url', field, 'must be an absolute http(s) URL such as "https://shop.example/confirm"');
  }
  if (rules.requireHttps && u.protocol !== 'https:') {
    throw fail('invalid_url', field, `must use https (this server requires it); got ${u.protocol.slice(0, 20)}`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    throw fail('invalid_url', field, `must use http or https; got ${u.protocol.slice(0, 20)}`);
  }
  if (u.username !== '' || u.password !== '') {
    throw fail('invalid_url', field, 'must not contain credentials (user:password@host)');
  }
  refuseCardNumberInUrl(v, field);
  const dest = checkUrlDestination(v, rules.allowList);
  if (!dest.ok) throw fail('destination_not_allowed', field, `is not an allowed destination: ${dest.reason}`);
  return v;
}

function validateFormat(v: unknown, field: string): Format {
  if (typeof v !== 'string' || !(FORMATS as readonly string[]).includes(v)) {
    throw fail('invalid_field', field, `must be one of: ${FORMATS.join(', ')}`);
  }
  return v as Format;
}

function validateMaxInFlight(v: unknown, field: string): number | null {
  return v === null ? null : boundedInt(v, field, 1, LIMITS.maxInFlightMax);
}

function validateTimeoutMs(v: unknown, field: string, rules: MerchantRules): number | null {
  return v === null ? null : boundedInt(v, field, LIMITS.timeoutMsMin, rules.timeoutMsMax);
}

/** Delays in seconds before attempts 1..n; null means the global schedule. */
export function validateRetrySchedule(v: unknown, field: string): number[] | null {
  if (v === null) return null;
  const rule =
    `must be a list of 1 to ${LIMITS.retryScheduleMaxItems} whole numbers of seconds ` +
    `between 0 and ${LIMITS.retryDelayMaxSec}`;
  if (!Array.isArray(v) || v.length < 1 || v.length > LIMITS.retryScheduleMaxItems) {
    throw fail('invalid_retry_schedule', field, rule);
  }
  return v.map((d: unknown, i) => {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0 || d > LIMITS.retryDelayMaxSec) {
      throw fail('invalid_retry_schedule', `${field}.${i}`, `is not valid: ${field} ${rule}`);
    }
    return d;
  });
}

/** ePayco credentials as a client sends them; the route seals `pKey` before anything is stored. */
export interface EpaycoInput {
  /** `p_cust_id_cliente` */
  readonly custId: string;
  /** `p_key` */
  readonly pKey: string;
}

/** `epayco: { custId, pKey }`: both required, printable ASCII without spaces or `^` (the signature's separator). */
function validateEpayco(v: unknown, field: string): EpaycoInput {
  const o = requireObject(v, field);
  onlyFields(o, ['custId', 'pKey'], field);
  const custId = boundedString(requireField(o, 'custId', field), `${field}.custId`, 1, LIMITS.epaycoCustIdMax);
  const pKey = boundedString(requireField(o, 'pKey', field), `${field}.pKey`, 1, LIMITS.epaycoPKeyMax);
  for (const [name, value] of [['custId', custId], ['pKey', pKey]] as const) {
    if (!/^[\x21-\x5d\x5f-\x7e]+$/.test(value)) {
      throw fail('invalid_field', `${field}.${name}`, 'may hold only printable ASCII characters other than space and ^');
    }
  }
  // The custId is stored in clear and sent in every confirmation; the pKey is a secret ePayco
  // issues, stored sealed and never logged, so it is not read as free text.
  refuseCardNumber(custId, `${field}.custId`);
  return { custId, pKey };
}

/** A merchant's name: shown in lists and copied into the audit log. */
function merchantName(v: unknown): string {
  const name = boundedString(v, 'name', 1, LIMITS.nameMax);
  refuseCardNumber(name, 'name');
  return name;
}

/** Credentials a format does not use are refused rather than stored (a pKey kept for nothing). */
export function epaycoNotUsed(format: Format): ConfirmaError {
  return fail('invalid_field', 'epayco', `is only for format epayco; this merchant's format is ${format}, which uses no epayco credentials`);
}

export interface MerchantInput {
  readonly name: string;
  readonly url: string;
  readonly format: Format;
  readonly maxInFlight: number | null;
  readonly timeoutMs: number | null;
  readonly retrySchedule: number[] | null;
  readonly epayco: EpaycoInput | null;
}

const MERCHANT_FIELDS = ['name', 'url', 'format', 'maxInFlight', 'timeoutMs', 'retrySchedule', 'epayco'] as const;

/** `POST /v1/merchants`. */
export function validateNewMerchant(body: unknown, rules: MerchantRules): MerchantInput {
  const o = requireObject(body, '');
  onlyFields(o, MERCHANT_FIELDS, '');
  const name = merchantName(requireField(o, 'name', ''));
  const url = validateUrl(requireField(o, 'url', ''), 'url', rules);
  const format = has(o, 'format') ? validateFormat(o.format, 'format') : 'standard';
  const epayco = has(o, 'epayco') ? validateEpayco(o.epayco, 'epayco') : null;
  if (format === 'epayco' && epayco === null) {
    throw fail('missing_field', 'epayco', 'is required when format is epayco: { custId, pKey }');
  }
  if (format !== 'epayco' && epayco !== null) throw epaycoNotUsed(format);
  return {
    name,
    url,
    format,
    epayco,
    maxInFlight: has(o, 'maxInFlight') ? validateMaxInFlight(o.maxInFlight, 'maxInFlight') : null,
    timeoutMs: has(o, 'timeoutMs') ? validateTimeoutMs(o.timeoutMs, 'timeoutMs', rules) : null,
    retrySchedule: has(o, 'retrySchedule') ? validateRetrySchedule(o.retrySchedule, 'retrySchedule') : null,
  };
}

const PATCH_FIELDS = [...MERCHANT_FIELDS, 'enabled'] as const;
/** What a merchant key may change on its own merchant (its ePayco keys included); the rest is the admin's. */
export const MERCHANT_SELF_PATCH_FIELDS: readonly string[] = ['url', 'timeoutMs', 'retrySchedule', 'enabled', 'epayco'];

/** A merchant patch as validated: `epayco` still in clear, sealed by the route. */
export type MerchantPatchInput = Omit<MerchantPatch, 'epayco'> & { readonly epayco?: EpaycoInput };

/** `PATCH /v1/merchants/:id`. `null` resets maxInFlight, timeoutMs or retrySchedule to the global default. */
export function validateMerchantPatch(body: unknown, rules: MerchantRules): MerchantPatchInput {
  const o = requireObject(body, '');
  onlyFields(o, PATCH_FIELDS, '');
  const keys = Object.keys(o).filter((k) => o[k] !== undefined);
  if (keys.length === 0) {
    throw new ConfirmaError('invalid_body', `the body must name at least one of: ${PATCH_FIELDS.join(', ')}`);
  }
  const patch: { -readonly [K in keyof MerchantPatchInput]: MerchantPatchInput[K] } = {};
  if (has(o, 'name')) patch.name = merchantName(o.name);
  if (has(o, 'url')) patch.url = validateUrl(o.url, 'url', rules);
  if (has(o, 'format')) patch.format = validateFormat(o.format, 'format');
  if (has(o, 'maxInFlight')) patch.maxInFlight = validateMaxInFlight(o.maxInFlight, 'maxInFlight');
  if (has(o, 'timeoutMs')) patch.timeoutMs = validateTimeoutMs(o.timeoutMs, 'timeoutMs', rules);
  if (has(o, 'retrySchedule')) patch.retrySchedule = validateRetrySchedule(o.retrySchedule, 'retrySchedule');
  if (has(o, 'enabled')) {
    if (typeof o.enabled !== 'boolean') {
      throw fail('invalid_field', 'enabled', `must be true or false; it is ${describe(o.enabled)}`);
    }
    patch.enabled = o.enabled;
  }
  if (has(o, 'epayco')) patch.epayco = validateEpayco(o.epayco, 'epayco');
  if (patch.format !== undefined && patch.format !== 'epayco' && patch.epayco !== undefined) throw epaycoNotUsed(patch.format);
  return patch;
}

/** `POST /v1/keys`: `{ merchantId?: string | null, name?: string }`; no merchantId = an admin key. */
export function validateNewKey(body: unknown): { merchantId: string | null; name: string | null } {
  const o = body === undefined ? {} : requireObject(body, '');
  onlyFields(o, ['merchantId', 'name'], '');
  const merchantId =
    !has(o, 'merchantId') || o.merchantId === null ? null : boundedString(o.merchantId, 'merchantId', 1, LIMITS.merchantIdMax);
  const name = has(o, 'name') ? boundedString(o.name, 'name', 1, LIMITS.nameMax) : null;
  if (name !== null) refuseCardNumber(name, 'name');
  return { merchantId, name };
}

/** Action routes take no body; `{}` is tolerated, anything else is refused rather than ignored. */
export function validateNoBody(body: unknown): void {
  if (body === undefined || body === null) return;
  if (isObject(body)) {
    const first = Object.keys(body)[0];
    if (first === undefined) return;
    throw fail('unknown_field', first, 'is not a known field: this route takes no body');
  }
  throw new ConfirmaError('invalid_body', 'this route takes no body');
}

// --- transactions ---

/**
 * A validated transaction before an id is assigned: `id` is undefined when the client sent none.
 * The idempotency hash is taken over this value, so a retry without an id hashes the same.
 */
export interface TransactionInput {
  readonly id: string | undefined;
  readonly merchantId: string;
  readonly reference: string;
  readonly amount: string;
  readonly currency: string;
  readonly status: Status;
  readonly customer: Customer | null;
  readonly metadata: Readonly<Record<string, string | number | boolean | null>> | null;
}

const TRANSACTION_FIELDS = ['id', 'merchantId', 'reference', 'amount', 'currency', 'status', 'customer', 'metadata'] as const;
const PHONE = /^[0-9 +\-()]+$/;

function validateCustomer(v: unknown, field: string): Customer | null {
  if (v === null) return null;
  const o = requireObject(v, field);
  onlyFields(o, ['name', 'phone'], field);
  const c: { name?: string; phone?: string } = {};
  if (has(o, 'name')) {
    c.name = boundedString(o.name, `${field}.name`, 1, LIMITS.customerNameMax);
    refuseCardNumber(c.name, `${field}.name`);
  }
  if (has(o, 'phone')) {
    const phone = boundedString(o.phone, `${field}.phone`, 1, LIMITS.customerPhoneMax);
    if (!PHONE.test(phone)) {
      throw fail('invalid_field', `${field}.phone`, 'may hold only digits, spaces, +, - and parentheses');
    }
    // E.164 numbers have at most 15 digits; more could only be something else, such as a card
    // number. Phones are not read for card numbers: 13- to 15-digit phone numbers (+86 mobiles
    // have 13) pass Luhn one time in ten, and the common 16-digit PANs cannot fit.
    if (phone.replace(/\D/g, '').length > 15) {
      throw fail('invalid_field', `${field}.phone`, 'may hold at most 15 digits (E.164)');
    }
    c.phone = phone;
  }
  return c;
}

function validateMetadata(v: unknown, field: string): Record<string, string | number | boolean | null> | null {
  if (v === null) return null;
  const o = requireObject(v, field);
  const keys = Object.keys(o);
  if (keys.length > LIMITS.metadataMaxKeys) {
    throw fail('invalid_field', field, `must have at most ${LIMITS.metadataMaxKeys} keys; it has ${keys.length}`);
  }
  const out: Record<string, string | number | boolean | null> = {};
  for (const k of keys) {
    refuseCardNumberInKey(k, field);
    const at = `${field}.${k.length > LIMITS.metadataKeyMax ? `${k.slice(0, LIMITS.metadataKeyMax)}…` : k}`;
    if (k.length === 0 || k.length > LIMITS.metadataKeyMax) {
      throw fail('invalid_field', at, `is not a valid key: keys must be 1 to ${LIMITS.metadataKeyMax} characters long`);
    }
    if (k === '__proto__') throw fail('invalid_field', at, 'is not an allowed key');
    const val = o[k];
    if (typeof val === 'string') {
      if (val.length > LIMITS.metadataStringMax) {
        throw fail('invalid_field', at, `must be at most ${LIMITS.metadataStringMax} characters long; it is ${val.length}`);
      }
      refuseCardNumber(val, at);
    } else if (typeof val === 'number') {
      if (!Number.isFinite(val)) throw fail('invalid_field', at, 'must be a finite number');
      // Past 2^53 the JSON parser has already rounded it (a 19-digit id arrives changed).
      if (Math.abs(val) > Number.MAX_SAFE_INTEGER) {
        throw fail('invalid_field', at, `is beyond ±${Number.MAX_SAFE_INTEGER}, which JSON numbers cannot carry exactly; send it as a string`);
      }
      refuseCardNumber(String(val), at);
    } else if (typeof val !== 'boolean' && val !== null) {
      throw fail('invalid_field', at, `must be a string, number, boolean or null (no nesting); it is ${describe(val)}`);
    }
    out[k] = val as string | number | boolean | null;
  }
  const bytes = Buffer.byteLength(JSON.stringify(out));
  if (bytes > LIMITS.metadataMaxBytes) {
    throw fail('invalid_field', field, `must serialize to at most ${LIMITS.metadataMaxBytes} bytes of JSON; it is ${bytes}`);
  }
  return out;
}

/**
 * One transaction of `POST /v1/transactions` or of a batch; `prefix` is '' for the single
 * endpoint and `transactions.<i>` inside a batch, so errors name the exact path.
 */
export function validateTransaction(body: unknown, prefix = ''): TransactionInput {
  const o = requireObject(body, prefix);
  onlyFields(o, TRANSACTION_FIELDS, prefix);
  for (const k of ['merchantId', 'reference', 'amount', 'currency', 'status']) requireField(o, k, prefix);
  let id: string | undefined;
  if (has(o, 'id')) {
    if (!isValidClientId(o.id)) {
      throw fail('invalid_field', path(prefix, 'id'), 'must be 1 to 64 characters of A-Z a-z 0-9 _ . : -');
    }
    id = o.id as string;
    refuseCardNumber(id, path(prefix, 'id'));
  }
  const merchantId = boundedString(o.merchantId, path(prefix, 'merchantId'), 1, LIMITS.merchantIdMax);
  const reference = boundedString(o.reference, path(prefix, 'reference'), 1, LIMITS.referenceMax);
  refuseCardNumber(reference, path(prefix, 'reference'));
  const currency = parseCurrency(o.currency, path(prefix, 'currency'));
  const amount = parseAmount(o.amount, currency, path(prefix, 'amount'));
  const status = parseStatus(o.status, path(prefix, 'status'));
  const customer = has(o, 'customer') ? validateCustomer(o.customer, path(prefix, 'customer')) : null;
  const metadata = has(o, 'metadata') ? validateMetadata(o.metadata, path(prefix, 'metadata')) : null;
  return { id, merchantId, reference, amount, currency, status, customer, metadata };
}

/** `PATCH /v1/transactions/:id`: `{ status }` and nothing else. */
export function validateStatusPatch(body: unknown): Status {
  const o = requireObject(body, '');
  onlyFields(o, ['status'], '');
  return parseStatus(requireField(o, 'status', ''), 'status');
}

/**
 * `POST /v1/transactions/batch`: checks only the envelope. Items are validated one by one by the
 * route so that one bad item does not refuse the others.
 */
export function validateBatchEnvelope(body: unknown): unknown[] {
  const o = requireObject(body, '');
  onlyFields(o, ['transactions'], '');
  const items = requireField(o, 'transactions', '');
  if (!Array.isArray(items)) {
    throw fail('invalid_field', 'transactions', `must be an array of transactions; it is ${describe(items)}`);
  }
  if (items.length === 0) {
    throw fail('invalid_field', 'transactions', `must hold 1 to ${LIMITS.batchMax} transactions; it is empty`);
  }
  if (items.length > LIMITS.batchMax) {
    const rule = `must hold at most ${LIMITS.batchMax} transactions; it holds ${items.length}`;
    throw fail('batch_too_large', 'transactions', rule);
  }
  return items;
}

/**
 * One batch item: a transaction plus an optional `idempotencyKey` of its own (same rules as the
 * header). Sources that forward records one by one (the DynamoDB Streams adapter) key each item by
 * its record, since a retried batch may hold different items than the first one.
 */
export function splitBatchItem(item: unknown, prefix: string): { item: unknown; idempotencyKey: string | undefined } {
  if (!isObject(item) || !Object.hasOwn(item, 'idempotencyKey')) return { item, idempotencyKey: undefined };
  const { idempotencyKey, ...rest } = item;
  const field = path(prefix, 'idempotencyKey');
  if (typeof idempotencyKey !== 'string' || !isIdempotencyKey(idempotencyKey)) {
    throw fail('invalid_idempotency_key', field, `must be 1 to ${LIMITS.idempotencyKeyMax} printable ASCII characters`);
  }
  refuseCardNumber(idempotencyKey, field);
  return { item: rest, idempotencyKey };
}

function isIdempotencyKey(v: string): boolean {
  return v.length >= 1 && v.length <= LIMITS.idempotencyKeyMax && /^[\x20-\x7e]+$/.test(v);
}

// --- headers and queries ---

/** `Idempotency-Key`: 1–255 printable ASCII characters, or undefined when absent. */
export function parseIdempotencyKey(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length < 1 || v.length > LIMITS.idempotencyKeyMax || !/^[\x20-\x7e]+$/.test(v)) {
    throw new ConfirmaError(
      'invalid_idempotency_key',
      `Idempotency-Key must be 1 to ${LIMITS.idempotencyKeyMax} printable ASCII characters`,
      { field: 'Idempotency-Key' },
    );
  }
  refuseCardNumber(v, 'Idempotency-Key');
  return v;
}

function queryError(name: string, rule: string): ConfirmaError {
  return new ConfirmaError('invalid_query', `${name} ${rule}`, { field: name });
}

/** A query object whose values are single strings; repeated or unknown parameters are refused. */
function queryStrings(query: unknown, allowed: readonly string[]): Record<string, string> {
  const q = (isObject(query) ? query : {}) as Obj;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(q)) {
    if (!allowed.includes(k)) throw queryError(k, `is not a known query parameter (allowed: ${allowed.join(', ')})`);
    if (typeof v !== 'string') throw queryError(k, 'must be given once');
    out[k] = v;
  }
  return out;
}

function parseLimit(v: string | undefined): number {
  if (v === undefined) return LIMITS.pageDefault;
  if (!/^\d{1,4}$/.test(v) || Number(v) < 1 || Number(v) > LIMITS.pageMax) {
    throw queryError('limit', `must be a whole number between 1 and ${LIMITS.pageMax}`);
  }
  return Number(v);
}

function parseCursor(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(v)) {
    throw new ConfirmaError('invalid_cursor', 'after must be a cursor this server returned as nextCursor', {
      field: 'after',
    });
  }
  return v;
}

export interface PageQuery {
  readonly after: string | undefined;
  readonly limit: number;
}

/** `?after&limit` of `GET /v1/merchants`. */
export function parsePageQuery(query: unknown): PageQuery {
  const q = queryStrings(query, ['after', 'limit']);
  return { after: parseCursor(q.after), limit: parseLimit(q.limit) };
}

export interface ConfirmationListQuery extends PageQuery {
  readonly merchantId: string | undefined;
  readonly state: ConfirmationState | undefined;
}

/** `?merchantId&state&after&limit` of `GET /v1/confirmations`. */
export function parseConfirmationQuery(query: unknown): ConfirmationListQuery {
  const q = queryStrings(query, ['merchantId', 'state', 'after', 'limit']);
  let state: ConfirmationState | undefined;
  if (q.state !== undefined) {
    if (!(CONFIRMATION_STATES as readonly string[]).includes(q.state)) {
      throw queryError('state', `must be one of: ${CONFIRMATION_STATES.join(', ')}`);
    }
    state = q.state as ConfirmationState;
  }
  if (q.merchantId !== undefined && (q.merchantId.length < 1 || q.merchantId.length > LIMITS.merchantIdMax)) {
    throw queryError('merchantId', `must be 1 to ${LIMITS.merchantIdMax} characters long`);
  }
  return { merchantId: q.merchantId, state, after: parseCursor(q.after), limit: parseLimit(q.limit) };
}

// --- idempotency hashing ---

/** JSON with object keys sorted at every level, so equal requests serialize to equal bytes. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Obj;
  const parts = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`);
  return `{${parts.join(',')}}`;
}

/** SHA-256 (hex) of the canonical JSON of a validated request. */
export function requestHash(v: unknown): string {
  return createHash('sha256').update(canonicalJson(v)).digest('hex');
}

// --- reconciliation ---

export interface ReferenceQuery {
  readonly reference: string;
  readonly merchantId: string | undefined;
}

/** `?reference&merchantId` of `GET /v1/transactions`: reference required, merchantId optional. */
export function parseReferenceQuery(query: unknown): ReferenceQuery {
  const q = queryStrings(query, ['reference', 'merchantId']);
  if (q.reference === undefined) {
    throw new ConfirmaError('invalid_query', 'reference is required: GET /v1/transactions?reference=<your reference>', {
      field: 'reference',
    });
  }
  if (q.reference.length < 1 || q.reference.length > LIMITS.referenceMax) {
    throw queryError('reference', `must be 1 to ${LIMITS.referenceMax} characters long`);
  }
  if (q.merchantId !== undefined && (q.merchantId.length < 1 || q.merchantId.length > LIMITS.merchantIdMax)) {
    throw queryError('merchantId', `must be 1 to ${LIMITS.merchantIdMax} characters long`);
  }
  return { reference: q.reference, merchantId: q.merchantId };
}

/**
 * `?merchantId` of `GET/PATCH /v1/transactions/:id`: whose transaction, since ids are unique per
 * merchant only. Optional: a merchant key means its own, the admin may leave it out for an id one
 * merchant uses.
 */
export function parseTransactionQuery(query: unknown): { readonly merchantId: string | undefined } {
  const q = queryStrings(query, ['merchantId']);
  if (q.merchantId !== undefined && (q.merchantId.length < 1 || q.merchantId.length > LIMITS.merchantIdMax)) {
    throw queryError('merchantId', `must be 1 to ${LIMITS.merchantIdMax} characters long`);
  }
  return { merchantId: q.merchantId };
}
