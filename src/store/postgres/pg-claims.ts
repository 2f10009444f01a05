import type pg from 'pg';
import type { Claim } from '../../domain/confirmation.js';
import { QUEUE_STATES_SQL, toClaim, withinCapacity, type Row } from '../rows.js';
import { FIRST_ATTEMPT_LOOKAHEAD, type ClaimOptions, type ClaimWant } from '../store.js';

/**
 * Claims on PostgreSQL: rows are taken `FOR UPDATE SKIP LOCKED`, so two workers never claim the
 * same row and never wait for each other; each claim increments `lease_token` (the fencing token).
 */
type Query = (sql: string, params: unknown[]) => Promise<pg.QueryResult<Row>>;

/** A claim's columns; its body is read from `confirmation_bodies` (see `withBodies`). */
const CLAIM_COLUMNS = 'id, merchant_id, transaction_id, seq, format, tries, lease_token';
const RETURNING = `RETURNING c.${CLAIM_COLUMNS.split(', ').join(', c.')}`;

/** `Store.claimDue`, in the transaction of `c`: the queue index, oldest due first. */
export async function claimDue(c: pg.PoolClient, opts: ClaimOptions): Promise<Claim[]> {
  // Rows another worker is claiming right now are skipped, not waited for.
  const { rows } = await c.query<Row>(
    `SELECT id, merchant_id FROM confirmations
     WHERE state IN (${QUEUE_STATES_SQL}) AND due_at <= $1 AND NOT (merchant_id = ANY($2::text[]))
     ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED`,
    [opts.now, opts.exclude, opts.limit],
  );
  const ids = withinCapacity(rows, opts).map((r) => String(r.id));
  if (ids.length === 0) return [];
  const claimed = await c.query<Row>(
    `UPDATE confirmations SET state = 'inflight', due_at = $2, lease_token = lease_token + 1
     WHERE id = ANY($1::text[]) RETURNING ${CLAIM_COLUMNS}`,
    [ids, opts.now + opts.leaseMs],
  );
  const claims = await withBodies((sql, params) => c.query<Row>(sql, params), claimed.rows);
  const byId = new Map(claims.map((claim) => [claim.id, claim]));
  return ids.map((id) => byId.get(id)!).filter((x) => x !== undefined);
}

/**
 * `Store.claimForMerchants` through the per-merchant index, with `query` (one transaction when
 * the wants need both statements). Two statements, so the plain claim keeps its index-ordered
 * plan (an ORDER BY on tries would sort a merchant's whole backlog).
 */
export async function claimForMerchants(
  query: Query,
  wants: readonly ClaimWant[],
  now: number,
  leaseMs: number,
): Promise<Claim[]> {
  const plain = wants.filter((w) => w.preferFirstAttempts !== true);
  const first = wants.filter((w) => w.preferFirstAttempts === true);
  const rows: Row[] = [];
  if (plain.length > 0) {
    const claimed = await query(
      `UPDATE confirmations c SET state = 'inflight', due_at = $4, lease_token = c.lease_token + 1
       FROM (SELECT x.id FROM unnest($1::text[], $2::int[]) AS w(merchant_id, lim)
             CROSS JOIN LATERAL (
               SELECT id FROM confirmations
               WHERE merchant_id = w.merchant_id AND state = 'pending' AND due_at <= $3
               ORDER BY due_at LIMIT w.lim FOR UPDATE SKIP LOCKED) x) s
       WHERE c.id = s.id
       ${RETURNING}`,
      [plain.map((w) => w.merchantId), plain.map((w) => w.limit), now, now + leaseMs],
    );
    rows.push(...claimed.rows);
  }
  if (first.length > 0) {
    // Among the merchant's oldest due rows (read without locks), first attempts first; the
    // rows picked are then locked, skipping any another worker holds, and checked again.
    const claimed = await query(
      `UPDATE confirmations c SET state = 'inflight', due_at = $4, lease_token = c.lease_token + 1
       FROM (SELECT x.id FROM unnest($1::text[], $2::int[]) AS w(merchant_id, lim)
             CROSS JOIN LATERAL (
               SELECT f.id FROM confirmations f
               WHERE f.id IN (SELECT id FROM confirmations
                              WHERE merchant_id = w.merchant_id AND state = 'pending' AND due_at <= $3
                              ORDER BY due_at LIMIT $5)
                 AND f.state = 'pending' AND f.due_at <= $3
               ORDER BY f.tries > 0, f.due_at LIMIT w.lim FOR UPDATE SKIP LOCKED) x) s
       WHERE c.id = s.id
       ${RETURNING}`,
      [first.map((w) => w.merchantId), first.map((w) => w.limit), now, now + leaseMs, FIRST_ATTEMPT_LOOKAHEAD],
    );
    rows.push(...claimed.rows);
  }
  return withBodies(query, rows);
}

/**
 * Claims for claimed rows, with their bodies. A body never changes once written, so it may be read
 * on any connection, inside the claim's transaction or after it.
 */
async function withBodies(query: Query, rows: readonly Row[]): Promise<Claim[]> {
  if (rows.length === 0) return [];
  const { rows: bodies } = await query('SELECT id, body FROM confirmation_bodies WHERE id = ANY($1::text[])', [
    rows.map((r) => String(r.id)),
  ]);
  const bodyOf = new Map(bodies.map((b) => [String(b.id), String(b.body)]));
  return rows.map((r) => {
    const body = bodyOf.get(String(r.id));
    if (body === undefined) throw new Error(`confirmation ${String(r.id)} has no body`);
    return toClaim(r, body, Number(r.lease_token));
  });
}
