import { createHash, timingSafeEqual } from 'node:crypto';
import type { Status } from '../domain/status.js';
import { KeyringError } from '../signing/keyring.js';
import { signedHeaders } from '../signing/standard-webhooks.js';
import { FormatError, type BodyInput, type PayloadFormat } from './format.js';

/**
 * `epayco`: the `application/x-www-form-urlencoded` confirmation that Colombian payment gateways
 * POST to a merchant's confirmation URL, so a merchant plugin written for them works unchanged.
 *
 * What the fields hold (docs/formats.md has the full table and a worked example):
 *  - `x_ref_payco`: the Confirma transaction id (the same on every confirmation of a payment);
 *  - `x_transaction_id`: the confirmation id, also the `webhook-id` (one per status change);
 *  - `x_id_invoice`: the merchant's own reference;
 *  - `x_amount`: the stored decimal string, byte for byte (never through a float);
 *  - `x_cod_response` / `x_cod_transaction_state`: the state code; `x_response` /
 *    `x_transaction_state`: its Spanish name (see {@link EPAYCO_STATES});
 *  - `x_signature`: sha256 hex of `p_cust_id_cliente^p_key^x_ref_payco^x_transaction_id^x_amount^x_currency_code`.
 *
 * The stored body holds every field but `x_cust_id_cliente` and `x_signature`, which need the
 * merchant's credentials: those two are appended per attempt (see PayloadFormat), so the store
 * never sees a decrypted `p_key`. With unchanged credentials every retry sends identical bytes.
 * The Standard Webhooks headers are sent too, computed over the exact form bytes.
 */

/** State code and name per status, as such gateways send them. */
export const EPAYCO_STATES: Readonly<Record<Status, { readonly code: number; readonly name: string }>> = {
  approved: { code: 1, name: 'Aceptada' },
  rejected: { code: 2, name: 'Rechazada' },
  pending: { code: 3, name: 'Pendiente' },
  failed: { code: 4, name: 'Fallida' },
  reversed: { code: 6, name: 'Reversada' },
  abandoned: { code: 10, name: 'Abandonada' },
  cancelled: { code: 11, name: 'Cancelada' },
};

/** The fields the signature covers. */
export interface EpaycoSignedFields {
  readonly x_ref_payco: string;
  readonly x_transaction_id: string;
  readonly x_amount: string;
  readonly x_currency_code: string;
}

/** `x_signature`: lowercase sha256 hex of `custId^pKey^x_ref_payco^x_transaction_id^x_amount^x_currency_code`. */
export function epaycoSignature(custId: string, pKey: string, f: EpaycoSignedFields): string {
  return createHash('sha256')
    .update([custId, pKey, f.x_ref_payco, f.x_transaction_id, f.x_amount, f.x_currency_code].join('^'), 'utf8')
    .digest('hex');
}

/**
 * What a merchant plugin does with a received form body: recompute `x_signature` from its own
 * `p_cust_id_cliente` and `p_key` and compare (in constant time). Used by the reference receiver
 * and the test fleet.
 */
export function verifyEpaycoSignature(custId: string, pKey: string, body: string): boolean {
  const form = new URLSearchParams(body);
  const given = form.get('x_signature');
  if (given === null) return false;
  const expected = epaycoSignature(custId, pKey, {
    x_ref_payco: form.get('x_ref_payco') ?? '',
    x_transaction_id: form.get('x_transaction_id') ?? '',
    x_amount: form.get('x_amount') ?? '',
    x_currency_code: form.get('x_currency_code') ?? '',
  });
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `YYYY-MM-DD HH:MM:SS` in UTC, the layout such gateways use for `x_transaction_date`. */
function gatewayDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** The stored form body (without `x_cust_id_cliente` and `x_signature`). */
export function epaycoBody({ msgId, tx }: BodyInput): string {
  const state = EPAYCO_STATES[tx.status];
  const approval = tx.metadata?.approvalCode;
  return new URLSearchParams({
    x_ref_payco: tx.id,
    x_transaction_id: msgId,
    x_id_invoice: tx.reference,
    x_amount: tx.amount,
    x_currency_code: tx.currency,
    x_cod_response: String(state.code),
    x_response: state.name,
    x_cod_transaction_state: String(state.code),
    x_transaction_state: state.name,
    x_approval_code: typeof approval === 'string' ? approval : '',
    x_transaction_date: gatewayDate(tx.updatedAt),
    x_customer_name: tx.customer?.name ?? '',
    x_customer_phone: tx.customer?.phone ?? '',
  }).toString();
}

/** Opened p_keys by sealed value, so an attempt does not decrypt again; bounded like the HMAC key cache. */
const opened = new Map<string, string>();
const OPENED_LIMIT = 10_000;

export const epaycoFormat: PayloadFormat = {
  name: 'epayco',
  contentType: 'application/x-www-form-urlencoded',
  buildBody: epaycoBody,
  request({ msgId, body, timestampSec, target, keyring }) {
    const creds = target.merchant.epayco;
    if (creds === null) throw new FormatError('the merchant has no epayco credentials (custId, pKey)');
    const cacheKey = `${target.merchant.id}\0${creds.sealedPKey}`;
    let pKey = opened.get(cacheKey);
    if (pKey === undefined) {
      if (keyring === undefined) throw new FormatError('CONFIRMA_MASTER_KEY is not set on this node: cannot open the p_key');
      try {
        pKey = keyring.open(creds.sealedPKey, pKeyOwner(target.merchant.id));
      } catch (err) {
        if (err instanceof KeyringError) throw new FormatError(`cannot open the p_key: ${err.message}`);
        throw err;
      }
      if (opened.size >= OPENED_LIMIT) opened.clear();
      opened.set(cacheKey, pKey);
    }
    const form = new URLSearchParams(body);
    const signature = epaycoSignature(creds.custId, pKey, {
      x_ref_payco: form.get('x_ref_payco') ?? '',
      x_transaction_id: form.get('x_transaction_id') ?? '',
      x_amount: form.get('x_amount') ?? '',
      x_currency_code: form.get('x_currency_code') ?? '',
    });
    const tail = new URLSearchParams({ x_cust_id_cliente: creds.custId, x_signature: signature }).toString();
    const sent = `${body}&${tail}`;
    return {
      body: sent,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...signedHeaders(target.secrets, msgId, timestampSec, sent),
      },
    };
  },
};

/** Associated data that binds a sealed p_key to its merchant. */
export function pKeyOwner(merchantId: string): string {
  return `epayco.pKey:${merchantId}`;
}
