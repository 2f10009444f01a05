import type pg from 'pg';
import { outcomeColumns, PROMOTION_BLOCKING_STATES_SQL, releasesOrder, type Row } from '../rows.js';
import type { OutcomeRecord, OutcomesRecorded } from '../store.js';
import { txKey } from '../transaction-key.js';

/**
 * Records a batch of attempt outcomes inside the caller's transaction: each row takes its outcome
 * only while it is still `inflight` under the claim's token (fencing: a node whose lease lapsed
 * records nothing), attempts are appended, a 410 disables the merchant and parks its queue, and a
 * transaction whose open confirmation closed gets its next `waiting` one promoted (the order
 * promise). The transactions whose next confirmation may be promoted are locked first, in
 * (id, merchant_id) order as ingest locks them, so two nodes closing confirmations of the same
 * transaction cannot both promote. A transaction is (merchant, id): a claim names both.
 */
export async function applyOutcomes(c: pg.PoolClient, records: readonly OutcomeRecord[], now: number): Promise<OutcomesRecorded> {
  // Lock the transactions whose next confirmation may be promoted, in key order (see above).
  const closing = closingTransactions(records);
  if (closing.length > 0) {
    await c.query(
      `SELECT 1 FROM transactions WHERE (id, merchant_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
       ORDER BY id, merchant_id FOR UPDATE`,
      [closing.map((k) => k.transactionId), closing.map((k) => k.merchantId)],
    );
  }
  const rows = records.map(({ claim, outcome }) => outcomeColumns(claim, outcome, now));
  // Fencing: only a row still inflight under this claim's token takes the outcome.
  const updated = await c.query<Row>(
    `UPDATE confirmations c SET state = u.state, due_at = u.due_at, tries = u.tries, attempts = c.attempts + 1,
       last_error = u.last_error, delivered_at = COALESCE(u.delivered_at, c.delivered_at)
     FROM unnest($1::text[], $2::int[], $3::text[], $4::bigint[], $5::int[], $6::text[], $7::bigint[])
          AS u(id, token, state, due_at, tries, last_error, delivered_at)
     WHERE c.id = u.id AND c.lease_token = u.token AND c.state = 'inflight'
     RETURNING c.id, c.lease_token, c.attempts`,
    [
      records.map((r) => r.claim.id),
      records.map((r) => r.claim.token),
      rows.map((r) => r.state),
      rows.map((r) => r.due_at),
      rows.map((r) => r.tries),
      rows.map((r) => r.last_error),
      rows.map((r) => r.delivered_at),
    ],
  );
  const numbers = new Map(updated.rows.map((r) => [`${String(r.id)}#${Number(r.lease_token)}`, Number(r.attempts)]));
  const won = records.filter((r) => numbers.has(`${r.claim.id}#${r.claim.token}`));
  const promoted = new Set<string>();
  if (won.length > 0) {
    const col = <T>(f: (r: OutcomeRecord) => T): T[] => won.map(f);
    await c.query(
      `INSERT INTO attempts (confirmation_id, number, started_at, duration_ms, status_code, error_kind, error_message, response_snippet, outcome)
       SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::int[], $5::int[], $6::text[], $7::text[], $8::text[], $9::text[])`,
      [
        col((r) => r.claim.id),
        col((r) => numbers.get(`${r.claim.id}#${r.claim.token}`)),
        col((r) => r.attempt.startedAt),
        col((r) => Math.round(r.attempt.durationMs)),
        col((r) => r.attempt.statusCode ?? null),
        col((r) => r.attempt.errorKind ?? null),
        col((r) => r.attempt.errorMessage ?? null),
        col((r) => r.attempt.responseSnippet ?? null),
        col((r) => r.outcome.kind),
      ],
    );
    // Another attempt may have disabled the merchant (410) while this one was in flight.
    const retried = won.filter((r) => r.outcome.kind === 'retry').map((r) => r.claim.id);
    if (retried.length > 0) {
      await c.query(
        `UPDATE confirmations c SET state = 'parked', due_at = NULL FROM merchants m
         WHERE c.id = ANY($1::text[]) AND c.state = 'pending' AND m.id = c.merchant_id AND m.disabled_at IS NOT NULL`,
        [retried],
      );
    }
    for (const r of won) {
      if (r.outcome.kind !== 'disable') continue;
      await c.query(
        'UPDATE merchants SET disabled_at = COALESCE(disabled_at, $1), disabled_reason = $2, updated_at = $1 WHERE id = $3',
        [now, r.outcome.reason, r.claim.merchantId],
      );
      await c.query(`UPDATE confirmations SET state = 'parked', due_at = NULL WHERE merchant_id = $1 AND state = 'pending'`, [
        r.claim.merchantId,
      ]);
    }
    const promote = closingTransactions(won);
    if (promote.length > 0) {
      // Per-transaction order: the next waiting confirmation of the same (merchant, transaction)
      // becomes due only when none of its confirmations is open.
      const next = await c.query<Row>(
        `UPDATE confirmations c
           SET state = CASE WHEN m.disabled_at IS NULL THEN 'pending' ELSE 'parked' END,
               due_at = CASE WHEN m.disabled_at IS NULL THEN $3::bigint ELSE NULL END
         FROM merchants m,
              (SELECT DISTINCT ON (transaction_id, merchant_id) id FROM confirmations
               WHERE (transaction_id, merchant_id) IN (SELECT * FROM unnest($1::text[], $2::text[])) AND state = 'waiting'
               ORDER BY transaction_id, merchant_id, seq) nx
         WHERE c.id = nx.id AND m.id = c.merchant_id
           AND NOT EXISTS (SELECT 1 FROM confirmations o WHERE o.transaction_id = c.transaction_id
                           AND o.merchant_id = c.merchant_id AND o.state IN (${PROMOTION_BLOCKING_STATES_SQL}))
         RETURNING c.merchant_id, c.state`,
        [promote.map((k) => k.transactionId), promote.map((k) => k.merchantId), now],
      );
      for (const r of next.rows) if (r.state === 'pending') promoted.add(String(r.merchant_id));
    }
  }
  return { recorded: won.length, stale: records.length - won.length, promoted: [...promoted] };
}

/** The (merchant, transaction) pairs, once each, whose open confirmation these outcomes close. */
function closingTransactions(records: readonly OutcomeRecord[]): Array<{ transactionId: string; merchantId: string }> {
  const out = new Map<string, { transactionId: string; merchantId: string }>();
  for (const { claim, outcome } of records) {
    if (!releasesOrder(outcome.kind)) continue;
    out.set(txKey(claim.merchantId, claim.transactionId), { transactionId: claim.transactionId, merchantId: claim.merchantId });
  }
  return [...out.values()];
}
