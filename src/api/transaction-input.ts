import { parseAmount, parseCurrency } from '../domain/money.js';
import type { Status } from '../domain/status.js';
import type { Customer } from '../domain/transaction.js';
import { ConfirmaError } from '../errors.js';
import { refuseCardNumber, refuseCardNumberInKey } from './card-numbers.js';
import { LIMITS } from './schemas/limits.js';
import type { NewTransactionBody } from './schemas/transaction.js';

/**
 * The rules a transaction's schema cannot state, run on a body the schema already accepted
 * (`schemas/transaction.ts`): the currency is one in use and the amount fits its minor unit
 * (`domain/money.ts`), no free-text field holds a card number, and the metadata fits its size.
 */

/**
 * A checked transaction before an id is assigned: `id` is undefined when the client sent none.
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

function at(prefix: string, name: string): string {
  return prefix === '' ? name : `${prefix}.${name}`;
}

function checkMetadata(metadata: Readonly<Record<string, string | number | boolean | null>>, field: string): void {
  for (const [k, v] of Object.entries(metadata)) {
    refuseCardNumberInKey(k, field);
    if (typeof v === 'string') refuseCardNumber(v, `${field}.${k}`);
    else if (typeof v === 'number') refuseCardNumber(String(v), `${field}.${k}`);
  }
  const bytes = Buffer.byteLength(JSON.stringify(metadata));
  if (bytes > LIMITS.metadataMaxBytes) {
    throw new ConfirmaError(
      'invalid_field',
      `${field} must serialize to at most ${LIMITS.metadataMaxBytes} bytes of JSON; it is ${bytes}`,
      {
        field,
      },
    );
  }
}

/**
 * One transaction of `POST /v1/transactions` or of a batch; `prefix` is '' for the single
 * endpoint and `transactions.<i>` inside a batch, so errors name the exact path.
 */
export function transactionInput(body: NewTransactionBody, prefix = ''): TransactionInput {
  const { id, merchantId, reference, amount, status } = body;
  if (id !== undefined) refuseCardNumber(id, at(prefix, 'id'));
  refuseCardNumber(reference, at(prefix, 'reference'));
  const currency = parseCurrency(body.currency, at(prefix, 'currency'));
  parseAmount(amount, currency, at(prefix, 'amount'));
  const customer = body.customer ?? null;
  if (customer?.name !== undefined) refuseCardNumber(customer.name, at(prefix, 'customer.name'));
  // Phones are not read for card numbers: 13- to 15-digit phone numbers (+86 mobiles have 13)
  // pass Luhn one time in ten, and the schema's 15 digits at most cannot hold the common 16-digit PANs.
  const metadata = body.metadata ?? null;
  if (metadata !== null) checkMetadata(metadata, at(prefix, 'metadata'));
  return { id, merchantId, reference, amount, currency, status, customer, metadata };
}
