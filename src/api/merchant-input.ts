import type { Config } from '../config.js';
import { checkUrlDestination, type AllowList } from '../dispatch/ssrf.js';
import type { Format, MerchantPatch } from '../domain/merchant.js';
import { ConfirmaError } from '../errors.js';
import { refuseCardNumber, refuseCardNumberInUrl } from './card-numbers.js';
import type { EpaycoInputBody, MerchantPatchBody, NewMerchantBody } from './schemas/merchant.js';

/**
 * The rules a merchant's schema cannot state, run on a body the schema already accepted
 * (`schemas/merchant.ts`): the URL parses, uses an allowed scheme and points at an allowed
 * destination (`dispatch/ssrf.ts`), no free-text field holds a card number, and epayco
 * credentials go with the epayco format and only with it.
 */

/** What the merchant rules need from the configuration. */
export interface MerchantRules {
  readonly requireHttps: boolean;
  readonly allowList: AllowList;
}

export function merchantRules(config: Config, allowList: AllowList): MerchantRules {
  return { requireHttps: config.requireHttps, allowList };
}

function fail(
  code: 'invalid_url' | 'destination_not_allowed' | 'invalid_field' | 'missing_field',
  field: string,
  rule: string,
): ConfirmaError {
  return new ConfirmaError(code, `${field} ${rule}`, { field });
}

/** A merchant's confirmation URL: absolute http(s), https only when required, no credentials or card numbers, an allowed destination. */
export function checkMerchantUrl(url: string, field: string, rules: MerchantRules): string {
  let u: URL;
  try {
    u = new URL(url);
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
  refuseCardNumberInUrl(url, field);
  const dest = checkUrlDestination(url, rules.allowList);
  if (!dest.ok) throw fail('destination_not_allowed', field, `is not an allowed destination: ${dest.reason}`);
  return url;
}

/** Credentials a format does not use are refused rather than stored (a pKey kept for nothing). */
export function epaycoNotUsed(format: Format): ConfirmaError {
  return fail(
    'invalid_field',
    'epayco',
    `is only for format epayco; this merchant's format is ${format}, which uses no epayco credentials`,
  );
}

/**
 * ePayco credentials as a client sends them; the route seals `pKey` before anything is stored.
 * The custId is stored in clear and sent in every confirmation, so it is read for card numbers;
 * the pKey is a secret ePayco issues, stored sealed and never logged, so it is not read as text.
 */
function epaycoInput(epayco: EpaycoInputBody): EpaycoInputBody {
  refuseCardNumber(epayco.custId, 'epayco.custId');
  return epayco;
}

export type EpaycoInput = EpaycoInputBody;

export interface MerchantInput {
  readonly name: string;
  readonly url: string;
  readonly format: Format;
  readonly maxInFlight: number | null;
  readonly timeoutMs: number | null;
  readonly retrySchedule: number[] | null;
  readonly epayco: EpaycoInput | null;
}

/** `POST /v1/merchants`, after its schema. */
export function newMerchantInput(body: NewMerchantBody, rules: MerchantRules): MerchantInput {
  refuseCardNumber(body.name, 'name');
  const url = checkMerchantUrl(body.url, 'url', rules);
  const format = body.format ?? 'standard';
  const epayco = body.epayco === undefined ? null : epaycoInput(body.epayco);
  if (format === 'epayco' && epayco === null) {
    throw fail('missing_field', 'epayco', 'is required when format is epayco: { custId, pKey }');
  }
  if (format !== 'epayco' && epayco !== null) throw epaycoNotUsed(format);
  return {
    name: body.name,
    url,
    format,
    epayco,
    maxInFlight: body.maxInFlight ?? null,
    timeoutMs: body.timeoutMs ?? null,
    retrySchedule: body.retrySchedule ?? null,
  };
}

/** What a merchant key may change on its own merchant (its ePayco keys included); the rest is the admin's. */
export const MERCHANT_SELF_PATCH_FIELDS: readonly string[] = ['url', 'timeoutMs', 'retrySchedule', 'enabled', 'epayco'];

/** A merchant patch as checked: `epayco` still in clear, sealed by the route. */
export type MerchantPatchInput = Omit<MerchantPatch, 'epayco'> & { readonly epayco?: EpaycoInput };

/** `PATCH /v1/merchants/:id`, after its schema. `null` resets maxInFlight, timeoutMs or retrySchedule to the global default. */
export function merchantPatchInput(body: MerchantPatchBody, rules: MerchantRules): MerchantPatchInput {
  if (body.name !== undefined) refuseCardNumber(body.name, 'name');
  if (body.url !== undefined) checkMerchantUrl(body.url, 'url', rules);
  if (body.epayco !== undefined) epaycoInput(body.epayco);
  if (body.format !== undefined && body.format !== 'epayco' && body.epayco !== undefined) throw epaycoNotUsed(body.format);
  return body;
}
