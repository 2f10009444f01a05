import { Type, type Static } from '@sinclair/typebox';
import { CONFIRMATION_STATES } from '../../domain/confirmation.js';
import { CLIENT_ID } from '../../domain/ids.js';
import { AMOUNT, CURRENCY_CODE } from '../../domain/money.js';
import { STATUSES } from '../../domain/status.js';
import { ErrorBody, NO_PAN, Time } from './common.js';
import { LIMITS } from './limits.js';
import { answers, closed, nullable, ref, stringEnum } from './schema.js';

/**
 * Transactions: what `POST /v1/transactions`, the batch and `PATCH` accept, and what they answer.
 * The schema says the shape; what it cannot say runs after it (`transaction-input.ts`): whether
 * the currency is in use and the amount fits it, card numbers in free text, the metadata's size.
 */

const MerchantId = Type.String({ minLength: 1, maxLength: LIMITS.merchantIdMax });

export const Status = stringEnum(STATUSES, answers({ code: 'invalid_status' }));

const ClientId = Type.String({
  pattern: CLIENT_ID.source,
  description: `Your id; generated when absent. Unique per merchant: another merchant's transaction with the same id is no conflict. ${NO_PAN}`,
  ...answers({ rule: 'must be 1 to 64 characters of A-Z a-z 0-9 _ . : -' }),
});

const Amount = Type.String({
  pattern: AMOUNT.source,
  description: "Decimal string > 0 with no more decimals than the currency's minor unit (COP 2, JPY 0, BHD 3).",
  ...answers({
    code: 'invalid_amount',
    rule: 'must be a decimal string such as "123.45" (digits and at most one point: no sign, exponent, spaces or separators)',
  }),
});

const Currency = Type.String({
  pattern: CURRENCY_CODE.source,
  description: 'ISO 4217 code in use, e.g. COP.',
  ...answers({ code: 'invalid_currency', rule: 'must be an ISO 4217 code of 3 uppercase letters such as "COP"' }),
});

const separators = ' +\\-()';
/** Digits, spaces, + - ( ), and at most 15 digits (E.164): more could only be something else, such as a card number. */
const PHONE = `^[${separators}]*(?:[0-9][${separators}]*){0,${LIMITS.customerPhoneDigitsMax}}$`;

export const CustomerInput = nullable(
  closed({
    name: Type.Optional(Type.String({ minLength: 1, maxLength: LIMITS.customerNameMax, description: NO_PAN })),
    phone: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: LIMITS.customerPhoneMax,
        pattern: PHONE,
        ...answers({
          rule: `may hold only digits, spaces, +, - and parentheses, and at most ${LIMITS.customerPhoneDigitsMax} digits (E.164)`,
        }),
      }),
    ),
  }),
);

const beyondJson = `must be within ±${Number.MAX_SAFE_INTEGER}: JSON numbers beyond cannot be carried exactly, so send it as a string`;

/** A metadata value: a string, a number JSON carries exactly, a boolean or null; no nesting. */
const MetadataValue = Type.Unsafe<string | number | boolean | null>({
  type: ['string', 'number', 'boolean', 'null'],
  maxLength: LIMITS.metadataStringMax,
  minimum: -Number.MAX_SAFE_INTEGER,
  maximum: Number.MAX_SAFE_INTEGER,
  ...answers({
    keywords: {
      type: { rule: 'must be a string, number, boolean or null (no nesting)' },
      minimum: { rule: beyondJson },
      maximum: { rule: beyondJson },
    },
  }),
});

export const MetadataInput = Type.Unsafe<Record<string, string | number | boolean | null> | null>({
  type: ['object', 'null'],
  maxProperties: LIMITS.metadataMaxKeys,
  propertyNames: Type.String({ minLength: 1, maxLength: LIMITS.metadataKeyMax }),
  additionalProperties: MetadataValue,
  description:
    `Flat object; at most ${LIMITS.metadataMaxBytes} bytes as JSON. Numbers beyond ±${Number.MAX_SAFE_INTEGER} ` +
    `are refused (send them as strings). ${NO_PAN} (in keys, strings and numbers)`,
});

const transactionFields = {
  id: Type.Optional(ClientId),
  merchantId: MerchantId,
  reference: Type.String({ minLength: 1, maxLength: LIMITS.referenceMax, description: NO_PAN }),
  amount: Amount,
  currency: Currency,
  status: Status,
  customer: Type.Optional(CustomerInput),
  metadata: Type.Optional(MetadataInput),
};

/** `POST /v1/transactions`. */
export const NewTransaction = closed(transactionFields, {
  title: 'NewTransaction',
  examples: [
    {
      id: 'order-1042',
      merchantId: 'mer_01JD3YB2ZKQ8R1VN7P0W4SXGHT',
      reference: 'INV-2024-1042',
      amount: '125000.50',
      currency: 'COP',
      status: 'pending',
      customer: { name: 'Ana Pérez', phone: '+57 300 123 4567' },
      metadata: { channel: 'PSE' },
    },
  ],
});
export type NewTransactionBody = Static<typeof NewTransaction>;

/** `Idempotency-Key`, as a header or a batch item's field. */
const idempotencyKey = (description: string) =>
  Type.String({
    minLength: 1,
    maxLength: LIMITS.idempotencyKeyMax,
    pattern: '^[\\x20-\\x7e]+$',
    description: `${description} ${NO_PAN}`,
    ...answers({ code: 'invalid_idempotency_key', rule: `must be 1 to ${LIMITS.idempotencyKeyMax} printable ASCII characters` }),
  });

/** Headers of the create routes; header names are matched in lowercase. */
export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    idempotencyKey('Same key and same body within this API key answer the first response again; a different body answers 409.'),
  ),
});

/** One item of a batch: a transaction and, optionally, its own idempotency key. */
export const BatchItem = closed(
  {
    ...transactionFields,
    idempotencyKey: Type.Optional(
      idempotencyKey(
        "This item's own idempotency key (same rules as the header); it wins over the request's Idempotency-Key. " +
          'Same key and same item answer the first result again; a different item answers idempotency_conflict.',
      ),
    ),
  },
  { title: 'BatchItem' },
);
export type BatchItemBody = Static<typeof BatchItem>;

const batchOf = <T extends ReturnType<typeof Type.Unknown> | typeof BatchItem>(items: T) =>
  closed(
    {
      transactions: Type.Array(items, {
        minItems: 1,
        maxItems: LIMITS.batchMax,
        ...answers({
          rule: `must be an array of 1 to ${LIMITS.batchMax} transactions`,
          keywords: {
            minItems: { rule: `must hold 1 to ${LIMITS.batchMax} transactions` },
            maxItems: { code: 'batch_too_large', rule: `must hold at most ${LIMITS.batchMax} transactions` },
          },
        }),
      }),
    },
    { title: 'BatchRequest' },
  );

/** `POST /v1/transactions/batch` as published: the items are `BatchItem`s. */
export const BatchRequest = batchOf(BatchItem);
/**
 * What the batch route's schema check runs: the envelope alone. The route checks each item
 * against `BatchItem` itself, so one bad item answers its own result instead of refusing the batch.
 */
export const BatchEnvelope = batchOf(Type.Unknown());

/** `PATCH /v1/transactions/:id`. */
export const StatusPatch = closed({ status: Status }, { title: 'StatusPatch' });

/** `?merchantId` of `GET/PATCH /v1/transactions/:id`: whose transaction, since ids are unique per merchant only. */
export const TransactionQuery = closed({
  merchantId: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: LIMITS.merchantIdMax,
      description:
        'Whose transaction. A merchant key means its own (naming another answers 404); the admin names one, or leaves it out for an id only one merchant uses.',
    }),
  ),
});

/** `?reference&merchantId` of `GET /v1/transactions` (reconciliation). */
export const ReferenceQuery = closed(
  {
    reference: Type.String({ minLength: 1, maxLength: LIMITS.referenceMax, description: 'The merchant reference.' }),
    merchantId: Type.Optional(Type.String({ minLength: 1, maxLength: LIMITS.merchantIdMax, description: 'Only this merchant.' })),
  },
  answers({ keywords: { required: { rule: 'is required: GET /v1/transactions?reference=<your reference>' } } }),
);

// --- answers ---

const Customer = Type.Object({ name: Type.Optional(Type.String()), phone: Type.Optional(Type.String()) });

const Metadata = Type.Unsafe<Readonly<Record<string, unknown>>>({
  type: 'object',
  additionalProperties: { type: ['string', 'number', 'boolean', 'null'] },
});

const transactionProps = {
  id: Type.String(),
  merchantId: Type.String(),
  reference: Type.String(),
  amount: Type.String(),
  currency: Type.String(),
  status: stringEnum(STATUSES),
  customer: nullable(Customer),
  metadata: nullable(Metadata),
  createdAt: Time(),
  updatedAt: Time(),
};

export const Transaction = Type.Object(transactionProps, { $id: 'Transaction' });

export const ConfirmationSummary = Type.Object(
  {
    id: Type.String({ description: 'Also the webhook-id header.' }),
    seq: Type.Integer({ minimum: 1 }),
    type: Type.String({ description: 'transaction.<status>' }),
    state: stringEnum(CONFIRMATION_STATES),
    attempts: Type.Integer({ minimum: 0 }),
    dueAt: nullable(Time()),
    deliveredAt: nullable(Time()),
    lastError: nullable(Type.String()),
    createdAt: Time(),
  },
  { $id: 'ConfirmationSummary' },
);

export const TransactionWithConfirmations = Type.Object(
  { ...transactionProps, confirmations: Type.Array(ref(ConfirmationSummary)) },
  { $id: 'TransactionWithConfirmations' },
);

export const ReferenceMatches = Type.Object(
  { data: Type.Array(ref(TransactionWithConfirmations), { maxItems: LIMITS.referenceMatchesMax }) },
  { $id: 'ReferenceMatches' },
);

/**
 * One result of a batch, in request order: `ok: true` with the HTTP status the item would have
 * had alone and the transaction, or `ok: false` with the item's error. One object with optional
 * parts rather than a oneOf, which fast-json-stringify would have to validate item by item.
 */
export const BatchResult = Type.Object(
  {
    index: Type.Integer({ minimum: 0 }),
    ok: Type.Boolean(),
    status: Type.Optional(
      Type.Unsafe<200 | 201>({ type: 'integer', enum: [200, 201], description: 'When ok: 201 created, 200 already there.' }),
    ),
    transaction: Type.Optional(ref(Transaction)),
    error: Type.Optional(Type.Unsafe<Static<typeof ErrorBody>>({ ...ref(ErrorBody), description: 'When not ok.' })),
  },
  { $id: 'BatchResult' },
);

export const BatchResponse = Type.Object({ results: Type.Array(ref(BatchResult)) }, { $id: 'BatchResponse' });
