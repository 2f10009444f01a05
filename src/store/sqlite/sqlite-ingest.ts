import type { Format } from '../../domain/merchant.js';
import { assertTransition } from '../../domain/status.js';
import type { Transaction } from '../../domain/transaction.js';
import { ConfirmaError } from '../../errors.js';
import {
  newConfirmationRow,
  newConfirmationState,
  replayIdempotent,
  sameContent,
  toTransaction,
  visible,
  type NewConfirmationRow,
  type Row,
} from '../rows.js';
import type { IngestClaimer, IngestOp, IngestResult } from '../store.js';
import { statusTarget } from '../transaction-key.js';
import type { Statements } from './statements.js';

/**
 * One group commit on SQLite: the ops of a batch applied in order inside the caller's
 * transaction. There is no savepoint per op: each op checks every rule before its first write, so
 * a refused op has written nothing (a savepoint per op cost a third of the ingest time).
 */
export class IngestBatch {
  /** Merchant states read by the batch running now (see `merchantState`). */
  private readonly merchants = new Map<string, Row | undefined>();

  constructor(private readonly s: Statements) {}

  /** Runs inside the caller's transaction. */
  apply(ops: readonly IngestOp[], now: number, claimer: IngestClaimer | undefined): IngestResult[] {
    this.merchants.clear();
    return ops.map((op): IngestResult => {
      try {
        return this.applyOp(op, now, claimer);
      } catch (err) {
        // A ConfirmaError is thrown before the op writes anything; anything else aborts the batch.
        if (err instanceof ConfirmaError) return { ok: false, error: err };
        throw err;
      }
    });
  }

  private applyOp(op: IngestOp, now: number, claimer: IngestClaimer | undefined): IngestResult {
    return op.kind === 'create' ? this.applyCreate(op, now, claimer) : this.applyStatus(op, now, claimer);
  }

  private applyCreate(op: Extract<IngestOp, { kind: 'create' }>, now: number, claimer: IngestClaimer | undefined): IngestResult {
    const { tx, scope, idempotency } = op;
    if (!visible(scope, tx.merchantId)) {
      throw new ConfirmaError('merchant_not_found', `merchant ${tx.merchantId} does not exist`, { field: 'merchantId' });
    }
    if (idempotency !== undefined) {
      const prior = this.s.getIdempotency.get(idempotency.scope, idempotency.key) as Row | undefined;
      if (prior !== undefined) {
        return replayIdempotent(prior, idempotency.requestHash);
      }
    }
    const merchant = this.merchantState(tx.merchantId);
    if (merchant === undefined) {
      throw new ConfirmaError('merchant_not_found', `merchant ${tx.merchantId} does not exist`, { field: 'merchantId' });
    }
    const stored: Transaction = { ...tx, createdAt: now, updatedAt: now };
    // Built (and checked) before the first write.
    const state = newConfirmationState(false, merchant.disabled_at !== null);
    const { row, claim } = newConfirmationRow(stored, 1, state, String(merchant.format) as Format, now, claimer);
    // Insert first: an id that exists already (a retried create) writes nothing and is compared below.
    // Positional parameters on the hot path: binding by name costs a property lookup per column.
    const inserted = this.s.insertTransaction.run(
      tx.id,
      tx.merchantId,
      tx.reference,
      tx.amount,
      tx.currency,
      tx.status,
      tx.customer === null ? null : JSON.stringify(tx.customer),
      tx.metadata === null ? null : JSON.stringify(tx.metadata),
      now,
      now,
    ).changes;
    let result: IngestResult;
    if (inserted === 1) {
      this.insertConfirmation(row, now);
      result = { ok: true, httpStatus: 201, transaction: stored, claim };
    } else {
      // The same merchant has this id already: another merchant's never conflicts (transaction-key.ts).
      const cur = toTransaction(this.s.getTransaction.get(tx.id, tx.merchantId) as Row);
      if (!sameContent(cur, tx)) {
        throw new ConfirmaError('transaction_exists', `transaction ${tx.id} already exists with different content`, {
          field: 'id',
        });
      }
      result = { ok: true, httpStatus: 200, transaction: cur };
    }
    if (idempotency !== undefined) {
      this.s.insertIdempotency.run(
        idempotency.scope,
        idempotency.key,
        idempotency.requestHash,
        result.transaction.id,
        result.httpStatus,
        JSON.stringify(result.transaction),
        now,
      );
    }
    return result;
  }

  /**
   * A merchant's `disabled_at` and `format`, read once per ingest batch: nothing else writes while
   * the batch's transaction runs.
   */
  private merchantState(id: string): Row | undefined {
    let state = this.merchants.get(id);
    if (state === undefined && !this.merchants.has(id)) {
      state = this.s.getMerchantState.get(id) as Row | undefined;
      this.merchants.set(id, state);
    }
    return state;
  }

  private applyStatus(op: Extract<IngestOp, { kind: 'status' }>, now: number, claimer: IngestClaimer | undefined): IngestResult {
    // Resolved inside this commit, so an id the admin names alone cannot change hands meanwhile.
    const { tx: cur, row } = statusTarget(
      op,
      (merchantId, id) => {
        const r = this.s.getTransaction.get(id, merchantId) as Row | undefined;
        return r === undefined ? undefined : stored(r);
      },
      (id) => (this.s.findById.all(id, 2) as Row[]).map(stored),
    );
    assertTransition(cur.status, op.status);
    const seq = Number(row.last_seq) + 1;
    const updated: Transaction = { ...cur, status: op.status, updatedAt: now };
    const open = this.s.hasOpenConfirmation.get(cur.id, cur.merchantId) !== undefined;
    const merchant = this.merchantState(cur.merchantId) as Row;
    const state = newConfirmationState(open, merchant.disabled_at !== null);
    const { row: confirmation, claim } = newConfirmationRow(updated, seq, state, String(merchant.format) as Format, now, claimer);
    this.s.updateTransactionStatus.run(op.status, now, seq, cur.id, cur.merchantId);
    this.insertConfirmation(confirmation, now);
    return { ok: true, httpStatus: 200, transaction: updated, claim };
  }

  private insertConfirmation(row: NewConfirmationRow, now: number): void {
    this.s.insertConfirmation.run(
      row.id,
      row.transaction_id,
      row.merchant_id,
      row.seq,
      row.type,
      row.state,
      row.format,
      row.due_at,
      row.lease_token,
      now,
    );
    this.s.insertBody.run(row.id, row.body);
  }
}

/** A transaction row with its mapped value. */
interface StoredTransaction {
  readonly tx: Transaction;
  readonly row: Row;
}

function stored(row: Row): StoredTransaction {
  return { tx: toTransaction(row), row };
}
