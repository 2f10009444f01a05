/**
 * How a DynamoDB item becomes a Confirma transaction. Configurable: a platform passes its own
 * `ItemMapping`; the default reads items shaped like
 * `{ id, creation_date, name, phone_number, amount, status?, merchant_id?, currency?, reference? }`.
 */

/**
 * A DynamoDB number as its exact digits: images are unmarshalled with `wrapNumbers` producing
 * these, so an amount never passes through a float.
 */
export class ExactNumber {
  constructor(readonly digits: string) {}
  toString(): string {
    return this.digits;
  }
}

/** A transaction as the batch API takes it (validated again by Confirma). */
export interface MappedTransaction {
  readonly id: string;
  readonly merchantId: string;
  readonly reference: string;
  readonly amount: string;
  readonly currency: string;
  readonly status: string;
  readonly customer?: { readonly name?: string; readonly phone?: string };
  readonly metadata?: Readonly<Record<string, string | number | boolean | null>>;
}

/**
 * Maps an unmarshalled image (numbers arrive as {@link ExactNumber}, never as floats) to a transaction;
 * throws {@link MappingError} when the item cannot be one.
 */
export type ItemMapping = (item: Readonly<Record<string, unknown>>) => MappedTransaction;

/** The item is not a transaction this mapping understands (a permanent problem: retrying will not help). */
export class MappingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MappingError';
  }
}

/** Defaults for fields an item may leave out. */
export interface DefaultMappingOptions {
  /** Merchant of items without `merchant_id`; without it such items are refused. */
  readonly merchantId?: string;
  /** Currency of items without `currency`. Default `COP`. */
  readonly currency?: string;
}

/** A string or number attribute as text: {@link ExactNumber} keeps DynamoDB's exact digits. */
function text(item: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const v = item[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (v instanceof ExactNumber) return v.digits;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  throw new MappingError(`${name} must be a string or a number, not ${Array.isArray(v) ? 'a list' : typeof v}`);
}

function required(item: Readonly<Record<string, unknown>>, name: string): string {
  const v = text(item, name);
  if (v === undefined || v === '') throw new MappingError(`${name} is missing`);
  return v;
}

/**
 * The default mapping:
 *
 * | item           | transaction                                        |
 * |----------------|----------------------------------------------------|
 * | id             | id (so each item is one transaction)               |
 * | reference      | reference; `id` when absent                        |
 * | amount         | amount, as DynamoDB's exact digits (S or N)        |
 * | currency       | currency; `options.currency` (COP) when absent     |
 * | status         | status, lowercased; `pending` when absent          |
 * | merchant_id    | merchantId; `options.merchantId` when absent       |
 * | name           | customer.name                                      |
 * | phone_number   | customer.phone                                     |
 * | creation_date  | metadata.creationDate                              |
 */
export function defaultMapping(options: DefaultMappingOptions = {}): ItemMapping {
  return (item) => {
    const id = required(item, 'id');
    const merchantId = text(item, 'merchant_id') ?? options.merchantId;
    if (merchantId === undefined || merchantId === '') {
      throw new MappingError('merchant_id is missing and no default merchant is configured (CONFIRMA_MERCHANT_ID)');
    }
    const name = text(item, 'name');
    const phone = text(item, 'phone_number');
    const created = text(item, 'creation_date');
    return {
      id,
      merchantId,
      reference: text(item, 'reference') ?? id,
      amount: required(item, 'amount'),
      currency: text(item, 'currency') ?? options.currency ?? 'COP',
      status: (text(item, 'status') ?? 'pending').toLowerCase(),
      ...(name === undefined && phone === undefined
        ? {}
        : { customer: { ...(name === undefined ? {} : { name }), ...(phone === undefined ? {} : { phone }) } }),
      ...(created === undefined ? {} : { metadata: { creationDate: created } }),
    };
  };
}
