import type { FastifyInstance } from 'fastify';
import { newId } from '../../domain/ids.js';
import type { Transaction } from '../../domain/transaction.js';
import { ConfirmaError, isConfirmaError } from '../../errors.js';
import type { IngestOp, IngestResult } from '../../store/store.js';
import { onlyMatch, transactionNotFound } from '../../store/transaction-key.js';
import { authOf, queriedMerchant, type Auth } from '../auth.js';
import type { RouteContext } from '../server.js';
import {
  LIMITS,
  parseIdempotencyKey,
  parseReferenceQuery,
  parseTransactionQuery,
  requestHash,
  splitBatchItem,
  validateBatchEnvelope,
  validateStatusPatch,
  validateTransaction,
  type TransactionInput,
} from '../validate.js';
import { confirmationSummaryView, transactionView } from '../views.js';
import { checkItem } from '../well-formed.js';

type IdParams = { Params: { id: string } };

type BatchItemResult =
  | { index: number; ok: true; status: 200 | 201; transaction: ReturnType<typeof transactionView> }
  | { index: number; ok: false; error: { code: string; message: string; field?: string } };

/**
 * Builds the create op. With an Idempotency-Key the claim is scoped to the API key, and the hash
 * covers the validated request before an id is generated, so a retry without an id matches.
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

/**
 * Transactions. Every write goes through the group-commit batcher and is answered only after the
 * commit that holds it (2xx = durable). Validation happens before anything is submitted, so a
 * refused request stores nothing.
 */
export function transactionRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { store, ingest } = ctx;

  async function submit(op: IngestOp): Promise<IngestResult> {
    try {
      return await ingest.submit(op);
    } catch (err) {
      throw storeUnavailable(err);
    }
  }

  app.post('/v1/transactions', async (request, reply) => {
    const auth = authOf(request);
    const key = parseIdempotencyKey(request.headers['idempotency-key']);
    const input = validateTransaction(request.body);
    const result = await submit(createOp(auth, input, key === undefined ? undefined : { scope: auth.keyId, key }));
    if (!result.ok) throw result.error;
    reply.code(result.httpStatus);
    return transactionView(result.transaction);
  });

  app.post('/v1/transactions/batch', { config: { itemsCheckedByRoute: 'transactions' } }, async (request) => {
    const auth = authOf(request);
    const key = parseIdempotencyKey(request.headers['idempotency-key']);
    const items = validateBatchEnvelope(request.body);
    const results: BatchItemResult[] = new Array<BatchItemResult>(items.length);
    const ops: IngestOp[] = [];
    const opIndex: number[] = [];
    items.forEach((item, index) => {
      try {
        checkItem(item, 'transactions', index);
        const split = splitBatchItem(item, `transactions.${index}`);
        const input = validateTransaction(split.item, `transactions.${index}`);
        // An item's own idempotencyKey wins: it names the item wherever it sits in the batch.
        // Otherwise each item gets its own claim under a batch-only scope, so retrying the same
        // batch with the same header key answers every item as the first time.
        const idem =
          split.idempotencyKey !== undefined
            ? { scope: `${auth.keyId}:item`, key: split.idempotencyKey }
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
  });

  /**
   * Ids are unique per merchant only: a merchant key acts on its own merchant's transaction; the
   * admin names the merchant with ?merchantId=, or leaves it out for an id one merchant uses (the
   * store resolves it in the commit; several answer 409 ambiguous_transaction_id).
   */
  app.patch<IdParams>('/v1/transactions/:id', async (request) => {
    const auth = authOf(request);
    const merchantId = queriedMerchant(auth, parseTransactionQuery(request.query).merchantId);
    const status = validateStatusPatch(request.body);
    const result = await submit({
      kind: 'status',
      scope: auth.scope,
      transactionId: request.params.id,
      ...(merchantId === undefined ? {} : { merchantId }),
      status,
    });
    if (!result.ok) throw result.error;
    return transactionView(result.transaction);
  });

  /**
   * Reconciliation: the transactions carrying a merchant's own reference, each with its
   * confirmation history, newest first. A merchant key searches its own merchant (a merchantId
   * naming another one answers 404); the admin searches every merchant unless merchantId is given.
   */
  app.get('/v1/transactions', async (request) => {
    const auth = authOf(request);
    const q = parseReferenceQuery(request.query);
    const merchantId = queriedMerchant(auth, q.merchantId);
    const found = await store.findTransactionsByReference(merchantId, q.reference, LIMITS.referenceMatchesMax);
    const data = [];
    for (const tx of found) {
      const confirmations = await store.listTransactionConfirmations(tx.merchantId, tx.id);
      data.push({ ...transactionView(tx), confirmations: confirmations.map(confirmationSummaryView) });
    }
    return { data };
  });

  /** As PATCH: one merchant's transaction; the admin without ?merchantId= finds the id across merchants. */
  app.get<IdParams>('/v1/transactions/:id', async (request) => {
    const auth = authOf(request);
    const { id } = request.params;
    const merchantId = queriedMerchant(auth, parseTransactionQuery(request.query).merchantId);
    const tx: Transaction | undefined =
      merchantId === undefined ? onlyMatch(id, await store.findTransactionsById(id, 2)) : await store.getTransaction(merchantId, id);
    if (tx === undefined) throw transactionNotFound(id);
    const confirmations = await store.listTransactionConfirmations(tx.merchantId, tx.id);
    return { ...transactionView(tx), confirmations: confirmations.map(confirmationSummaryView) };
  });
}
