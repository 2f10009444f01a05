import Database from 'better-sqlite3';
import { OPEN_STATES_SQL, ORDER_BLOCKING_STATES_SQL, PROMOTION_BLOCKING_STATES_SQL, QUEUE_STATES_SQL } from '../rows.js';

/** Columns of a confirmation as the API shows it (never the body). */
export const CONFIRMATION_COLUMNS =
  'id, transaction_id, merchant_id, seq, type, state, due_at, attempts, delivered_at, last_error, created_at';

const SQL = {
  insertMerchant: `INSERT INTO merchants (id, name, url, format, max_in_flight, timeout_ms, retry_schedule, epayco_cust_id,
       epayco_p_key_sealed, created_at, updated_at)
     VALUES (@id, @name, @url, @format, @max_in_flight, @timeout_ms, @retry_schedule, @epayco_cust_id,
       @epayco_p_key_sealed, @now, @now)`,
  getMerchant: 'SELECT * FROM merchants WHERE id = ?',
  getMerchantState: 'SELECT disabled_at, format FROM merchants WHERE id = ?',
  listMerchants: 'SELECT * FROM merchants WHERE id > ? ORDER BY id LIMIT ?',
  updateMerchant: `UPDATE merchants SET name = @name, url = @url, format = @format, max_in_flight = @max_in_flight,
       timeout_ms = @timeout_ms, retry_schedule = @retry_schedule, disabled_at = @disabled_at,
       disabled_reason = @disabled_reason, epayco_cust_id = @epayco_cust_id,
       epayco_p_key_sealed = @epayco_p_key_sealed, updated_at = @now WHERE id = @id`,
  disableMerchant:
    'UPDATE merchants SET disabled_at = COALESCE(disabled_at, ?), disabled_reason = ?, updated_at = ? WHERE id = ?',
  parkMerchant: `UPDATE confirmations SET state = 'parked', due_at = NULL WHERE merchant_id = ? AND state = 'pending'`,
  unparkMerchant: `UPDATE confirmations SET state = 'pending', due_at = ? WHERE merchant_id = ? AND state = 'parked'`,
  allSecrets: 'SELECT id, merchant_id, secret FROM merchant_secrets ORDER BY id',
  allPKeys: 'SELECT id, epayco_p_key_sealed FROM merchants WHERE epayco_p_key_sealed IS NOT NULL ORDER BY id',
  replaceSecret: 'UPDATE merchant_secrets SET secret = ? WHERE id = ? AND merchant_id = ? AND secret = ?',
  replacePKey: 'UPDATE merchants SET epayco_p_key_sealed = ? WHERE id = ? AND epayco_p_key_sealed = ?',
  insertSecret: 'INSERT INTO merchant_secrets (merchant_id, secret, created_at) VALUES (?, ?, ?)',
  expireSecrets: 'UPDATE merchant_secrets SET expires_at = ? WHERE merchant_id = ? AND expires_at IS NULL',
  liveSecrets:
    'SELECT secret, expires_at FROM merchant_secrets WHERE merchant_id = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY id DESC',
  insertApiKey: 'INSERT INTO api_keys (id, merchant_id, prefix, hash, created_at) VALUES (?, ?, ?, ?, ?)',
  insertNamedApiKey: 'INSERT INTO api_keys (id, merchant_id, prefix, hash, name, created_at) VALUES (?, ?, ?, ?, ?, ?)',
  getApiKey: 'SELECT id, merchant_id, prefix, name, created_at, revoked_at FROM api_keys WHERE id = ?',
  listApiKeys: 'SELECT id, merchant_id, prefix, name, created_at, revoked_at FROM api_keys ORDER BY created_at, id',
  listAdminKeys:
    'SELECT id, merchant_id, prefix, name, created_at, revoked_at FROM api_keys WHERE merchant_id IS NULL ORDER BY created_at, id',
  listMerchantKeys:
    'SELECT id, merchant_id, prefix, name, created_at, revoked_at FROM api_keys WHERE merchant_id = ? ORDER BY created_at, id',
  revokeApiKey: 'UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?',
  insertAudit: 'INSERT INTO audit_log (at, actor, action, target, details) VALUES (?, ?, ?, ?, ?)',
  listAudit: 'SELECT * FROM audit_log WHERE id > ? ORDER BY id LIMIT ?',
  findApiKey: 'SELECT id, merchant_id FROM api_keys WHERE hash = ? AND revoked_at IS NULL',
  getIdempotency: 'SELECT * FROM idempotency_keys WHERE scope = ? AND key = ?',
  insertIdempotency: `INSERT INTO idempotency_keys (scope, key, request_hash, transaction_id, http_status, response, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  getTransaction: 'SELECT * FROM transactions WHERE id = ? AND merchant_id = ?',
  // The admin's lookup by id alone: a prefix of the primary key.
  findById: 'SELECT * FROM transactions WHERE id = ? ORDER BY merchant_id LIMIT ?',
  findByReference: 'SELECT * FROM transactions WHERE reference = ? ORDER BY created_at DESC, id DESC, merchant_id DESC LIMIT ?',
  findByMerchantReference:
    'SELECT * FROM transactions WHERE merchant_id = ? AND reference = ? ORDER BY created_at DESC, id DESC LIMIT ?',
  insertTransaction: `INSERT INTO transactions (id, merchant_id, reference, amount, currency, status, customer, metadata, last_seq, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
     ON CONFLICT (id, merchant_id) DO NOTHING`,
  updateTransactionStatus: 'UPDATE transactions SET status = ?, updated_at = ?, last_seq = ? WHERE id = ? AND merchant_id = ?',
  hasOpenConfirmation: `SELECT 1 FROM confirmations
     WHERE transaction_id = ? AND merchant_id = ? AND state IN (${ORDER_BLOCKING_STATES_SQL}) LIMIT 1`,
  insertConfirmation: `INSERT INTO confirmations (id, transaction_id, merchant_id, seq, type, state, format, due_at, lease_token, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  insertBody: 'INSERT INTO confirmation_bodies (id, body) VALUES (?, ?)',
  getConfirmation: `SELECT ${CONFIRMATION_COLUMNS} FROM confirmations WHERE id = ?`,
  listTxConfirmations: `SELECT ${CONFIRMATION_COLUMNS} FROM confirmations WHERE transaction_id = ? AND merchant_id = ? ORDER BY seq`,
  listAttempts: 'SELECT * FROM attempts WHERE confirmation_id = ? ORDER BY number',
  requeue: `UPDATE confirmations SET state = 'pending', due_at = ?, tries = 0, last_error = NULL WHERE id = ?`,
  replayDead: `UPDATE confirmations SET state = 'pending', due_at = ?, tries = 0 WHERE merchant_id = ? AND state = 'dead'`,
  // CROSS JOIN keeps the queue index as the outer loop; the body comes by primary key.
  selectDue: `SELECT c.id, c.merchant_id, c.transaction_id, c.seq, b.body, c.format, c.tries, c.lease_token
     FROM confirmations c INDEXED BY confirmations_due CROSS JOIN confirmation_bodies b ON b.id = c.id
     WHERE c.state IN (${QUEUE_STATES_SQL}) AND c.due_at <= ?
       AND c.merchant_id NOT IN (SELECT value FROM json_each(?))
     ORDER BY c.due_at LIMIT ?`,
  // Pending rows only: lapsed leases come back through selectDue (see migration 0005).
  selectDueFor: `SELECT c.id, c.merchant_id, c.transaction_id, c.seq, b.body, c.format, c.tries, c.lease_token
     FROM confirmations c INDEXED BY confirmations_merchant_due CROSS JOIN confirmation_bodies b ON b.id = c.id
     WHERE c.merchant_id = ? AND c.state = 'pending' AND c.due_at <= ?
     ORDER BY c.due_at LIMIT ?`,
  // A probe's claim (`preferFirstAttempts`): among the merchant's oldest due rows (at most the
  // lookahead, through the same index), first attempts first. The bodies are joined only to the
  // rows picked, not to the whole lookahead (a LIMIT subquery in a join is not flattened).
  selectFirstDueFor: `SELECT k.id, k.merchant_id, k.transaction_id, k.seq, b.body, k.format, k.tries, k.lease_token
     FROM (SELECT * FROM (SELECT id, merchant_id, transaction_id, seq, format, tries, lease_token, due_at
                          FROM confirmations INDEXED BY confirmations_merchant_due
                          WHERE merchant_id = ? AND state = 'pending' AND due_at <= ?
                          ORDER BY due_at LIMIT ?)
           ORDER BY tries > 0, due_at LIMIT ?) k
     CROSS JOIN confirmation_bodies b ON b.id = k.id
     ORDER BY k.tries > 0, k.due_at`,
  claim: `UPDATE confirmations SET state = 'inflight', due_at = ?, lease_token = ? WHERE id = ?`,
  // Positional parameters on the hot path (state, due_at, tries, last_error, delivered_at, id, token).
  recordOutcome: `UPDATE confirmations SET state = ?, due_at = ?, tries = ?, attempts = attempts + 1,
       last_error = ?, delivered_at = COALESCE(?, delivered_at)
     WHERE id = ? AND lease_token = ? AND state = 'inflight'
     RETURNING attempts`,
  insertAttempt: `INSERT INTO attempts (confirmation_id, number, started_at, duration_ms, status_code, error_kind, error_message, response_snippet, outcome)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  // Per-transaction order: the next waiting confirmation of the same (merchant, transaction)
  // becomes due only when none of its confirmations is open.
  promoteNext: `UPDATE confirmations
       SET state = CASE WHEN (SELECT disabled_at FROM merchants m WHERE m.id = confirmations.merchant_id) IS NULL
                        THEN 'pending' ELSE 'parked' END,
           due_at = CASE WHEN (SELECT disabled_at FROM merchants m WHERE m.id = confirmations.merchant_id) IS NULL
                        THEN @now ELSE NULL END
     WHERE id = (SELECT id FROM confirmations WHERE transaction_id = @tx AND merchant_id = @merchant AND state = 'waiting'
                 ORDER BY seq LIMIT 1)
       AND NOT EXISTS (SELECT 1 FROM confirmations WHERE transaction_id = @tx AND merchant_id = @merchant
                       AND state IN (${PROMOTION_BLOCKING_STATES_SQL}))`,
  // A released row goes back to the queue, or to the parking lot if its merchant is disabled.
  release: `UPDATE confirmations
       SET state = CASE WHEN (SELECT disabled_at FROM merchants m WHERE m.id = confirmations.merchant_id) IS NULL
                        THEN 'pending' ELSE 'parked' END,
           due_at = CASE WHEN (SELECT disabled_at FROM merchants m WHERE m.id = confirmations.merchant_id) IS NULL
                        THEN @now ELSE NULL END
     WHERE id = @id AND lease_token = @token AND state = 'inflight'`,
  parkIfDisabled: `UPDATE confirmations SET state = 'parked', due_at = NULL
     WHERE id = ? AND state = 'pending'
       AND (SELECT disabled_at FROM merchants m WHERE m.id = confirmations.merchant_id) IS NOT NULL`,
  nextDue: `SELECT due_at FROM confirmations INDEXED BY confirmations_due WHERE state IN (${QUEUE_STATES_SQL}) AND due_at IS NOT NULL ORDER BY due_at LIMIT 1`,
  countByState: 'SELECT state, count(*) AS n FROM confirmations GROUP BY state',
  // One seek per merchant and open state in the (merchant_id, state, id) index: delivered rows are
  // never read. (SQLite has no index that leads with state; this one serves both lookups.)
  countOpen: `SELECT state, count(*) AS n FROM confirmations INDEXED BY confirmations_merchant_state
     WHERE merchant_id IN (SELECT id FROM merchants) AND state IN (${OPEN_STATES_SQL})
     GROUP BY state`,
  // Retention walks ids (they sort by creation time) below the floor; the three deletes pick the same rows.
  purgeAttempts: `DELETE FROM attempts WHERE confirmation_id IN
       (SELECT id FROM confirmations WHERE id < ? AND state = 'delivered' ORDER BY id LIMIT ?)`,
  purgeBodies: `DELETE FROM confirmation_bodies WHERE id IN
       (SELECT id FROM confirmations WHERE id < ? AND state = 'delivered' ORDER BY id LIMIT ?)`,
  purgeConfirmations: `DELETE FROM confirmations WHERE id IN
       (SELECT id FROM confirmations WHERE id < ? AND state = 'delivered' ORDER BY id LIMIT ?)`,
  // Transactions by creation time after a cursor (the index's entries carry the key too).
  scanOldTransactions: `SELECT id, merchant_id, created_at FROM transactions INDEXED BY transactions_created
     WHERE created_at < ? AND (created_at, id, merchant_id) > (?, ?, ?) ORDER BY created_at, id, merchant_id LIMIT ?`,
  purgeTransaction: `DELETE FROM transactions WHERE id = ? AND merchant_id = ? AND updated_at < ?
       AND NOT EXISTS (SELECT 1 FROM confirmations c
                       WHERE c.transaction_id = transactions.id AND c.merchant_id = transactions.merchant_id)`,
  purgeIdempotency: `DELETE FROM idempotency_keys WHERE rowid IN
       (SELECT rowid FROM idempotency_keys INDEXED BY idempotency_keys_created WHERE created_at < ? ORDER BY created_at LIMIT ?)`,
} as const;

/** Every statement the SQLite adapter runs, prepared once per connection. */
export type Statements = { readonly [K in keyof typeof SQL]: Database.Statement };

export function prepareStatements(db: Database.Database): Statements {
  const out: Record<string, Database.Statement> = {};
  for (const [name, sql] of Object.entries(SQL)) out[name] = db.prepare(sql);
  return out as Statements;
}
