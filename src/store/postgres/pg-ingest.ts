import type pg from 'pg';
import { blocksOrder, type ConfirmationState } from '../../domain/confirmation.js';
import type { Format } from '../../domain/merchant.js';
import { assertTransition } from '../../domain/status.js';
import type { Transaction } from '../../domain/transaction.js';
import { ConfirmaError } from '../../errors.js';
import {
  newConfirmationRow,
  newConfirmationState,
  ORDER_BLOCKING_STATES_SQL,
  replayIdempotent,
  sameContent,
  toTransaction,
  visible,
  type NewConfirmationRow,
  type Row,
} from '../rows.js';
import type { Claim } from '../../domain/confirmation.js';
import type { IngestClaimer, IngestOp, IngestResult } from '../store.js';
import { statusMerchant, statusTarget, txKey } from '../transaction-key.js';

/** A unique key another node wrote between our reads and our insert: run the whole batch again. */
export class IngestRace extends Error {
  constructor(what: string) {
    super(`concurrent insert of the same ${what}; retrying the batch`);
    this.name = 'IngestRace';
  }
}

interface TxState {
  tx: Transaction;
  lastSeq: number;
  isNew: boolean;
  changed: boolean;
}

/**
 * Group commit on PostgreSQL, set-based: a few round trips per batch instead of several per op.
 *
 *  1. read (and lock) what the batch touches: its transactions FOR UPDATE in (id, merchant_id)
 *     order (by their key; an admin's status change naming no merchant reads every merchant's row
 *     with its id, to resolve it in this same commit), their merchants FOR SHARE (so a concurrent
 *     enable/disable waits), prior idempotency answers and which of the transactions still have
 *     an open confirmation;
 *  2. apply the ops in order in memory, with exactly the per-op rules of the SQLite store: an op
 *     that breaks a rule gets its error and leaves no trace, the others go ahead;
 *  3. write everything with one multi-row statement per table.
 *
 * Locking the transaction rows is what keeps per-transaction order across nodes: a worker
 * promoting the next confirmation locks the same row first, so "is one still open?" here and
 * "promote the next waiting one" there never interleave. If another node inserts the same
 * transaction id or idempotency key between steps 1 and 3, the insert reports it and the caller
 * runs the batch again (it then sees the other node's row).
 *
 * A transaction is (merchant, id): ids are unique per merchant only (see `transaction-key.ts`).
 */
export async function ingestBatch(
  c: pg.PoolClient,
  ops: readonly IngestOp[],
  now: number,
  claimer?: IngestClaimer,
): Promise<IngestResult[]> {
  // The transactions the batch touches: (id, merchant) pairs, merchant null = every merchant's.
  const wanted = new Map<string, { id: string; merchantId: string | null }>();
  const merchantIds = new Set<string>();
  const idemScopes: string[] = [];
  const idemKeys: string[] = [];
  for (const op of ops) {
    if (op.kind === 'create') {
      wanted.set(txKey(op.tx.merchantId, op.tx.id), { id: op.tx.id, merchantId: op.tx.merchantId });
      merchantIds.add(op.tx.merchantId);
      if (op.idempotency !== undefined) {
        idemScopes.push(op.idempotency.scope);
        idemKeys.push(op.idempotency.key);
      }
    } else {
      const merchantId = statusMerchant(op) ?? null;
      wanted.set(merchantId === null ? `*${op.transactionId}` : txKey(merchantId, op.transactionId), {
        id: op.transactionId,
        merchantId,
      });
    }
  }
  const txs = new Map<string, TxState>();
  // The admin's lookup by id alone: every state of that id, rows read and rows this batch creates.
  const byId = new Map<string, TxState[]>();
  const track = (st: TxState): void => {
    txs.set(txKey(st.tx.merchantId, st.tx.id), st);
    byId.set(st.tx.id, [...(byId.get(st.tx.id) ?? []), st]);
  };
  if (wanted.size > 0) {
    const keys = [...wanted.values()];
    const { rows } = await c.query<Row>(
      `SELECT * FROM transactions t
       WHERE t.id = ANY($1::text[])
         AND EXISTS (SELECT 1 FROM unnest($1::text[], $2::text[]) AS k(id, merchant_id)
                     WHERE k.id = t.id AND (k.merchant_id IS NULL OR k.merchant_id = t.merchant_id))
       ORDER BY t.id, t.merchant_id FOR UPDATE`,
      [keys.map((k) => k.id), keys.map((k) => k.merchantId)],
    );
    for (const r of rows) {
      const tx = toTransaction(r);
      merchantIds.add(tx.merchantId);
      track({ tx, lastSeq: Number(r.last_seq), isNew: false, changed: false });
    }
  }
  const disabled = new Map<string, boolean>();
  // The merchant's format now: each confirmation's body is built once, in it, and stored with it.
  const formats = new Map<string, Format>();
  if (merchantIds.size > 0) {
    const { rows } = await c.query<Row>(
      'SELECT id, disabled_at, format FROM merchants WHERE id = ANY($1::text[]) ORDER BY id FOR SHARE',
      [[...merchantIds]],
    );
    for (const r of rows) {
      disabled.set(String(r.id), r.disabled_at !== null);
      formats.set(String(r.id), String(r.format) as Format);
    }
  }
  const idem = new Map<string, Row>();
  if (idemKeys.length > 0) {
    const { rows } = await c.query<Row>(
      `SELECT scope, key, request_hash, http_status, response FROM idempotency_keys
       WHERE (scope, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [idemScopes, idemKeys],
    );
    for (const r of rows) idem.set(`${String(r.scope)}\n${String(r.key)}`, r);
  }
  // Transactions (by txKey) with a confirmation still open.
  const open = new Set<string>();
  const existing = [...txs.values()].map((st) => st.tx);
  if (existing.length > 0) {
    const { rows } = await c.query<Row>(
      `SELECT DISTINCT transaction_id, merchant_id FROM confirmations
       WHERE (transaction_id, merchant_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
         AND state IN (${ORDER_BLOCKING_STATES_SQL})`,
      [existing.map((tx) => tx.id), existing.map((tx) => tx.merchantId)],
    );
    for (const r of rows) open.add(txKey(String(r.merchant_id), String(r.transaction_id)));
  }

  const confs: NewConfirmationRow[] = [];
  const newIdem: Row[] = [];
  const addConfirmation = (tx: Transaction, seq: number, state: ConfirmationState): Claim | undefined => {
    const { row, claim } = newConfirmationRow(tx, seq, state, formats.get(tx.merchantId) ?? 'standard', now, claimer);
    confs.push(row);
    if (blocksOrder(row.state)) open.add(txKey(tx.merchantId, tx.id));
    return claim;
  };

  const results = ops.map((op): IngestResult => {
    // Each op works on copies and commits them to the batch state only if it succeeds,
    // so a refused op leaves no trace, as on the SQLite store.
    try {
      if (op.kind === 'create') {
        const { tx, scope, idempotency } = op;
        if (!visible(scope, tx.merchantId)) {
          throw new ConfirmaError('merchant_not_found', `merchant ${tx.merchantId} does not exist`, { field: 'merchantId' });
        }
        const idemKey = idempotency === undefined ? undefined : `${idempotency.scope}\n${idempotency.key}`;
        if (idempotency !== undefined && idemKey !== undefined) {
          const prior = idem.get(idemKey);
          if (prior !== undefined) {
            return replayIdempotent(prior, idempotency.requestHash);
          }
        }
        const merchantDisabled = disabled.get(tx.merchantId);
        if (merchantDisabled === undefined) {
          throw new ConfirmaError('merchant_not_found', `merchant ${tx.merchantId} does not exist`, { field: 'merchantId' });
        }
        // Only the same merchant's transaction of this id conflicts (transaction-key.ts).
        const existing = txs.get(txKey(tx.merchantId, tx.id));
        let result: IngestResult & { ok: true };
        if (existing !== undefined) {
          if (!sameContent(existing.tx, tx)) {
            throw new ConfirmaError('transaction_exists', `transaction ${tx.id} already exists with different content`, {
              field: 'id',
            });
          }
          result = { ok: true, httpStatus: 200, transaction: existing.tx };
        } else {
          const stored: Transaction = { ...tx, createdAt: now, updatedAt: now };
          track({ tx: stored, lastSeq: 1, isNew: true, changed: true });
          const claim = addConfirmation(stored, 1, newConfirmationState(false, merchantDisabled));
          result = { ok: true, httpStatus: 201, transaction: stored, claim };
        }
        if (idempotency !== undefined && idemKey !== undefined) {
          const row: Row = {
            scope: idempotency.scope,
            key: idempotency.key,
            request_hash: idempotency.requestHash,
            transaction_id: result.transaction.id,
            http_status: result.httpStatus,
            response: JSON.stringify(result.transaction),
          };
          idem.set(idemKey, row);
          newIdem.push(row);
        }
        return result;
      }
      const st = statusTarget(
        op,
        (merchantId, id) => txs.get(txKey(merchantId, id)),
        (id) => byId.get(id) ?? [],
      );
      assertTransition(st.tx.status, op.status);
      const updated: Transaction = { ...st.tx, status: op.status, updatedAt: now };
      st.tx = updated;
      st.lastSeq += 1;
      st.changed = true;
      const state = newConfirmationState(
        open.has(txKey(updated.merchantId, updated.id)),
        disabled.get(updated.merchantId) === true,
      );
      const claim = addConfirmation(updated, st.lastSeq, state);
      return { ok: true, httpStatus: 200, transaction: updated, claim };
    } catch (err) {
      if (err instanceof ConfirmaError) return { ok: false, error: err };
      throw err;
    }
  });

  const inserts = [...txs.values()].filter((s) => s.isNew);
  if (inserts.length > 0) {
    const col = <K extends keyof Transaction>(k: K): unknown[] => inserts.map((s) => s.tx[k]);
    const json = (k: 'customer' | 'metadata'): Array<string | null> =>
      inserts.map((s) => (s.tx[k] === null ? null : JSON.stringify(s.tx[k])));
    const { rowCount } = await c.query(
      `INSERT INTO transactions (id, merchant_id, reference, amount, currency, status, customer, metadata, last_seq, created_at, updated_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                            $9::int[], $10::bigint[], $11::bigint[])
       ON CONFLICT (id, merchant_id) DO NOTHING`,
      [
        col('id'),
        col('merchantId'),
        col('reference'),
        col('amount'),
        col('currency'),
        col('status'),
        json('customer'),
        json('metadata'),
        inserts.map((s) => s.lastSeq),
        inserts.map((s) => s.tx.createdAt),
        inserts.map((s) => s.tx.updatedAt),
      ],
    );
    if (rowCount !== inserts.length) throw new IngestRace('transaction id');
  }
  const updates = [...txs.values()].filter((s) => !s.isNew && s.changed);
  if (updates.length > 0) {
    await c.query(
      `UPDATE transactions t SET status = u.status, updated_at = u.updated_at, last_seq = u.last_seq
       FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::int[]) AS u(id, merchant_id, status, updated_at, last_seq)
       WHERE t.id = u.id AND t.merchant_id = u.merchant_id`,
      [
        updates.map((s) => s.tx.id),
        updates.map((s) => s.tx.merchantId),
        updates.map((s) => s.tx.status),
        updates.map((s) => s.tx.updatedAt),
        updates.map((s) => s.lastSeq),
      ],
    );
  }
  if (confs.length > 0) {
    const col = (k: keyof NewConfirmationRow): unknown[] => confs.map((r) => r[k]);
    await c.query(
      `INSERT INTO confirmations (id, transaction_id, merchant_id, seq, type, state, format, due_at, lease_token, created_at)
       SELECT u.*, $10::bigint
       FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[], $8::bigint[],
                   $9::int[]) AS u`,
      [
        col('id'),
        col('transaction_id'),
        col('merchant_id'),
        col('seq'),
        col('type'),
        col('state'),
        col('format'),
        col('due_at'),
        col('lease_token'),
        now,
      ],
    );
    // The body in its own table: written once, never copied again by claims and outcomes.
    await c.query(`INSERT INTO confirmation_bodies (id, body) SELECT * FROM unnest($1::text[], $2::text[])`, [
      col('id'),
      col('body'),
    ]);
  }
  if (newIdem.length > 0) {
    const col = (k: string): unknown[] => newIdem.map((r) => r[k]);
    const { rowCount } = await c.query(
      `INSERT INTO idempotency_keys (scope, key, request_hash, transaction_id, http_status, response, created_at)
       SELECT u.*, $7::bigint FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::text[]) AS u
       ON CONFLICT DO NOTHING`,
      [col('scope'), col('key'), col('request_hash'), col('transaction_id'), col('http_status'), col('response'), now],
    );
    if (rowCount !== newIdem.length) throw new IngestRace('idempotency key');
  }
  return results;
}
