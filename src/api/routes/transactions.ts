import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { newId } from '../../domain/ids.js';
import type { Transaction as StoredTransaction } from '../../domain/transaction.js';
import { ConfirmaError, isConfirmaError } from '../../errors.js';
import type { IngestOp, IngestResult } from '../../store/store.js';
import { onlyMatch, transactionNotFound } from '../../store/transaction-key.js';
import { authOf, queriedMerchant, type Auth } from '../auth.js';
import { refuseCardNumber } from '../card-numbers.js';
import { requestHash } from '../request-hash.js';
import { AUTH, BODY, errorResponses, IdParams } from '../schemas/common.js';
import { LIMITS } from '../schemas/limits.js';
import { ref } from '../schemas/schema.js';
import {
  BatchEnvelope,
  BatchItem,
  BatchRequest,
  BatchResponse,
  IdempotencyHeaders,
  NewTransaction,
  ReferenceMatches,
  ReferenceQuery,
  StatusPatch,
  Transaction,
  TransactionQuery,
  TransactionWithConfirmations,
  type BatchItemBody,
} from '../schemas/transaction.js';
import type { RouteContext } from '../server.js';
import { transactionInput, type TransactionInput } from '../transaction-input.js';
import { confirmationSummaryView, transactionView } from '../views.js';
import { checkItem } from '../well-formed.js';

const TransactionId = IdParams('Transaction id (unique per merchant)');
const tags = ['transactions'];
const transactionIdRule =
  "Transaction ids are unique per merchant: two merchants may each have a transaction with the same id. A merchant key acts on its own merchant's transaction. " +
  'The admin names the merchant with merchantId; without it the id is looked up across merchants, and an id several merchants use answers 409 ambiguous_transaction_id.';

type BatchItemResult =
  | { index: number; ok: true; status: 200 | 201; transaction: ReturnType<typeof transactionView> }
  | { index: number; ok: false; error: { code: ConfirmaError['code']; message: string; field?: string } };

/**
 * Builds the create op. With an Idempotency-Key the claim is scoped to the API key, and the hash
 * covers the checked request before an id is generated, so a retry without an id matches.
 */
function createOp(auth: Auth, input: TransactionInput, idem: { scope: string; key: string } | undefined): IngestOp {
  const tx = { ...input, id: input.id ?? newId('tx') };
  if (idem === undefined) return { kind: 'create', scope: auth.scope, tx };
  return { kind: 'create', scope: auth.scope, tx, idempotency: { ...idem, requestHash: requestHash(input) } };
}

/** The batcher rejects only when the commit failed: nothing in it was stored. */
function storeUnavailable(cause: unknown): ConfirmaError {
  return new ConfirmaError('store_unavailable', undefined, { retryAfterSec: 1, cause });
}

/** An `Idempotency-Key` the schema accepted, unless it holds a card number (it is stored and logged). */
function idempotencyKey(value: string | undefined): string | undefined {
  if (value !== undefined) refuseCardNumber(value, 'Idempotency-Key');
  return value;
}

/**
 * Transactions. Every write goes through the group-commit batcher and is answered only after the
 * commit that holds it (2xx = durable). Checks happen before anything is submitted, so a refused
 * request stores nothing.
 */
export function transactionRoutes(fastify: FastifyInstance, ctx: RouteContext): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { store, ingest } = ctx;
  const checkBatchItem = ctx.validator.check(BatchItem);

  async function submit(op: IngestOp): Promise<IngestResult> {
    try {
      return await ingest.submit(op);
    } catch (err) {
      throw storeUnavailable(err);
    }
  }

  app.post(
    '/v1/transactions',
    {
      schema: {
        operationId: 'createTransaction',
        summary: 'Create a transaction and its first confirmation; answered after the commit',
        tags,
        headers: IdempotencyHeaders,
        body: NewTransaction,
        response: {
          201: { ...ref(Transaction), description: 'Created (durable)' },
          200: {
            ...ref(Transaction),
            description: 'This merchant already had this id with the same content, or an idempotent replay',
          },
          ...errorResponses(
            ...AUTH,
            ...BODY,
            'card_number_refused',
            'invalid_amount',
            'invalid_currency',
            'invalid_status',
            'invalid_idempotency_key',
            'merchant_not_found',
            'transaction_exists',
            'idempotency_conflict',
            'store_unavailable',
          ),
        },
      },
    },
    async (request, reply) => {
      const auth = authOf(request);
      const key = idempotencyKey(request.headers['idempotency-key']);
      const input = transactionInput(request.body);
      const result = await submit(createOp(auth, input, key === undefined ? undefined : { scope: auth.keyId, key }));
      if (!result.ok) throw result.error;
      reply.code(result.httpStatus);
      return transactionView(result.transaction);
    },
  );

  app.post(
    '/v1/transactions/batch',
    {
      config: { itemsCheckedByRoute: 'transactions' },
      // The envelope alone: each item is checked below, so a bad one answers its own result.
      validatorCompiler: ctx.validator.compilerWithBody(BatchEnvelope),
      // Native JSON.stringify: fast-json-stringify cost ~20% more CPU on a 1,000-item answer
      // (bench/validate-micro.ts, docs/benchmarks.md). The answer is built from views that list
      // every field already, and an error's { error } serialises the same either way.
      serializerCompiler: () => (data: unknown) => JSON.stringify(data),
      schema: {
        operationId: 'createTransactions',
        summary: `Create up to ${LIMITS.batchMax} transactions; one result per item`,
        description:
          'Items are checked one by one: a bad item answers its own error (field transactions.<i>.<path>) and the others are stored.',
        tags,
        headers: IdempotencyHeaders,
        body: BatchRequest,
        response: {
          200: { ...ref(BatchResponse), description: 'Per-item results, in request order' },
          ...errorResponses(
            ...AUTH,
            ...BODY,
            'batch_too_large',
            'invalid_idempotency_key',
            'card_number_refused',
            'store_unavailable',
          ),
        },
      },
    },
    async (request) => {
      const auth = authOf(request);
      const key = idempotencyKey(request.headers['idempotency-key']);
      const items: readonly unknown[] = request.body.transactions;
      const results: BatchItemResult[] = new Array<BatchItemResult>(items.length);
      const ops: IngestOp[] = [];
      const opIndex: number[] = [];
      items.forEach((item, index) => {
        try {
          checkItem(item, 'transactions', index);
          const refused = checkBatchItem(item, ['transactions', String(index)]);
          if (refused !== undefined) throw refused;
          const { idempotencyKey: itemKey, ...tx } = item as BatchItemBody;
          if (itemKey !== undefined) refuseCardNumber(itemKey, `transactions.${index}.idempotencyKey`);
          const input = transactionInput(tx, `transactions.${index}`);
          // An item's own idempotencyKey wins: it names the item wherever it sits in the batch.
          // Otherwise each item gets its own claim under a batch-only scope, so retrying the same
          // batch with the same header key answers every item as the first time.
          const idem =
            itemKey !== undefined
              ? { scope: `${auth.keyId}:item`, key: itemKey }
              : key === undefined
                ? undefined
                : { scope: `${auth.keyId}:batch`, key: `${key}#${index}` };
          ops.push(createOp(auth, input, idem));
          opIndex.push(index);
        } catch (err) {
          if (!isConfirmaError(err)) throw err;
          results[index] = { index, ok: false, error: err.toJSON().error };
        }
      });
      // Submitted in the same turn, so they share commits (up to the batcher's maxBatch each).
      const settled = await Promise.allSettled(ops.map((op) => ingest.submit(op)));
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed !== undefined && settled.every((s) => s.status === 'rejected')) throw storeUnavailable(failed.reason);
      if (failed !== undefined) request.log.error({ err: failed.reason }, 'part of a batch failed to commit');
      settled.forEach((s, j) => {
        const index = opIndex[j] as number;
        if (s.status === 'rejected') {
          const e = storeUnavailable(s.reason);
          results[index] = { index, ok: false, error: { code: e.code, message: e.message, field: `transactions.${index}` } };
        } else if (s.value.ok) {
          results[index] = { index, ok: true, status: s.value.httpStatus, transaction: transactionView(s.value.transaction) };
        } else {
          // Store errors name the field as in a single create; give it the item's path.
          const e = s.value.error;
          const field = e.field === undefined ? `transactions.${index}` : `transactions.${index}.${e.field}`;
          results[index] = { index, ok: false, error: { code: e.code, message: `${field}: ${e.message}`, field } };
        }
      });
      return { results };
    },
  );

  /**
   * Ids are unique per merchant only: a merchant key acts on its own merchant's transaction; the
   * admin names the merchant with ?merchantId=, or leaves it out for an id one merchant uses (the
   * store resolves it in the commit; several answer 409 ambiguous_transaction_id).
   */
  app.patch(
    '/v1/transactions/:id',
    {
      schema: {
        operationId: 'updateTransactionStatus',
        summary: 'Change the status; adds a confirmation',
        description: transactionIdRule,
        tags,
        params: TransactionId,
        querystring: TransactionQuery,
        body: StatusPatch,
        response: {
          200: { ...ref(Transaction), description: 'The transaction' },
          ...errorResponses(
            ...AUTH,
            ...BODY,
            'invalid_path',
            'invalid_query',
            'invalid_status',
            'merchant_not_found',
            'transaction_not_found',
            'ambiguous_transaction_id',
            'invalid_transition',
            'store_unavailable',
          ),
        },
      },
    },
    async (request) => {
      const auth = authOf(request);
      const merchantId = queriedMerchant(auth, request.query.merchantId);
      const result = await submit({
        kind: 'status',
        scope: auth.scope,
        transactionId: request.params.id,
        ...(merchantId === undefined ? {} : { merchantId }),
        status: request.body.status,
      });
      if (!result.ok) throw result.error;
      return transactionView(result.transaction);
    },
  );

  /**
   * Reconciliation: the transactions carrying a merchant's own reference, each with its
   * confirmation history, newest first. A merchant key searches its own merchant (a merchantId
   * naming another one answers 404); the admin searches every merchant unless merchantId is given.
   */
  app.get(
    '/v1/transactions',
    {
      schema: {
        operationId: 'findTransactionsByReference',
        summary: "Reconciliation: the transactions with the merchant's own reference, each with its confirmations, newest first",
        description:
          'A merchant key searches its own merchant (merchantId may be omitted; another merchant answers 404). ' +
          `The admin key searches every merchant unless merchantId is given. At most ${LIMITS.referenceMatchesMax} matches.`,
        tags,
        querystring: ReferenceQuery,
        response: {
          200: { ...ref(ReferenceMatches), description: 'Matches (possibly none)' },
          ...errorResponses(...AUTH, 'invalid_query', 'merchant_not_found'),
        },
      },
    },
    async (request) => {
      const auth = authOf(request);
      const merchantId = queriedMerchant(auth, request.query.merchantId);
      const found = await store.findTransactionsByReference(merchantId, request.query.reference, LIMITS.referenceMatchesMax);
      const data = [];
      for (const tx of found) {
        const confirmations = await store.listTransactionConfirmations(tx.merchantId, tx.id);
        data.push({ ...transactionView(tx), confirmations: confirmations.map(confirmationSummaryView) });
      }
      return { data };
    },
  );

  /** As PATCH: one merchant's transaction; the admin without ?merchantId= finds the id across merchants. */
  app.get(
    '/v1/transactions/:id',
    {
      schema: {
        operationId: 'getTransaction',
        summary: 'A transaction with its confirmations',
        description: transactionIdRule,
        tags,
        params: TransactionId,
        querystring: TransactionQuery,
        response: {
          200: { ...ref(TransactionWithConfirmations), description: 'The transaction' },
          ...errorResponses(
            ...AUTH,
            'invalid_path',
            'invalid_query',
            'merchant_not_found',
            'transaction_not_found',
            'ambiguous_transaction_id',
          ),
        },
      },
    },
    async (request) => {
      const auth = authOf(request);
      const { id } = request.params;
      const merchantId = queriedMerchant(auth, request.query.merchantId);
      const tx: StoredTransaction | undefined =
        merchantId === undefined
          ? onlyMatch(id, await store.findTransactionsById(id, 2))
          : await store.getTransaction(merchantId, id);
      if (tx === undefined) throw transactionNotFound(id);
      const confirmations = await store.listTransactionConfirmations(tx.merchantId, tx.id);
      return { ...transactionView(tx), confirmations: confirmations.map(confirmationSummaryView) };
    },
  );
}
