import type pg from 'pg';
import { idFloor } from '../../domain/ids.js';
import { nextPurgeCursor, type Row } from '../rows.js';
import type { PurgeBatch, PurgeCursor } from '../store.js';

/**
 * Retention's batched deletes on PostgreSQL, one short statement (or transaction) each; whole old
 * weeks of confirmations are dropped by `pg-partitions.ts` instead. Rows another session holds at
 * that moment are skipped, not waited for.
 */
type Query = (sql: string, params: unknown[]) => Promise<pg.QueryResult<Row>>;

/**
 * Up to `limit` delivered confirmations created before `before`, with their attempts and bodies,
 * along the primary key (ids sort by creation time; the (state, id) index holds no delivered rows).
 */
export async function deleteDelivered(q: Query, before: number, limit: number): Promise<number> {
  const { rowCount } = await q(
    `WITH doomed AS (
       SELECT id FROM confirmations WHERE id < $1 AND state = 'delivered' ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED),
     gone AS (DELETE FROM attempts WHERE confirmation_id IN (SELECT id FROM doomed)),
     bodies AS (DELETE FROM confirmation_bodies WHERE id IN (SELECT id FROM doomed))
     DELETE FROM confirmations WHERE id IN (SELECT id FROM doomed)`,
    [idFloor('msg', before), limit],
  );
  return rowCount ?? 0;
}

/** One batch of `Store.purgeTransactions`, in the transaction of `c`. */
export async function deleteBareTransactions(
  c: pg.PoolClient,
  before: number,
  limit: number,
  after?: PurgeCursor,
): Promise<PurgeBatch> {
  // By (created_at, id, merchant_id): two merchants' transactions may share an id.
  const { rows } = await c.query<Row>(
    `SELECT id, merchant_id, created_at FROM transactions
     WHERE created_at < $1 AND (created_at, id, merchant_id) > ($2, $3, $4)
     ORDER BY created_at, id, merchant_id LIMIT $5`,
    [before, after?.createdAt ?? -1, after?.id ?? '', after?.merchantId ?? '', limit],
  );
  if (rows.length === 0) return { removed: 0, next: undefined };
  // A transaction an ingest holds right now (FOR UPDATE) is skipped: it is being changed. One
  // changed since this statement's snapshot fails updated_at when its lock is taken. Only its own
  // confirmations keep it (another merchant's transaction of the same id has its own).
  const { rowCount } = await c.query(
    `DELETE FROM transactions WHERE (id, merchant_id) IN (
       SELECT t.id, t.merchant_id FROM transactions t
       WHERE (t.id, t.merchant_id) IN (SELECT * FROM unnest($1::text[], $2::text[])) AND t.updated_at < $3
         AND NOT EXISTS (SELECT 1 FROM confirmations x WHERE x.transaction_id = t.id AND x.merchant_id = t.merchant_id)
       FOR UPDATE SKIP LOCKED)`,
    [rows.map((r) => String(r.id)), rows.map((r) => String(r.merchant_id)), before],
  );
  return { removed: rowCount ?? 0, next: nextPurgeCursor(rows, limit) };
}

/** Up to `limit` idempotency keys created before `before`. */
export async function deleteOldIdempotencyKeys(q: Query, before: number, limit: number): Promise<number> {
  const { rowCount } = await q(
    `DELETE FROM idempotency_keys WHERE (scope, key) IN (
       SELECT scope, key FROM idempotency_keys WHERE created_at < $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
    [before, limit],
  );
  return rowCount ?? 0;
}
