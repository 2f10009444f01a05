import pg from 'pg';
import type { ApiKeyRecord, NewApiKey } from '../../domain/api-key.js';
import type { AuditEntry, NewAuditEntry } from '../../domain/audit.js';
import type { Attempt, Claim, Confirmation, ConfirmationState, OpenState } from '../../domain/confirmation.js';
import { CONFIRMATION_STATES, OPEN_STATES } from '../../domain/confirmation.js';
import type { DeliveryTarget, Merchant, MerchantPatch, NewMerchant } from '../../domain/merchant.js';
import type { Transaction } from '../../domain/transaction.js';
import { loadMigrations } from '../migrations.js';
import {
  OPEN_STATES_SQL,
  patchMerchant,
  QUEUE_STATES_SQL,
  settingsColumns,
  storedCredentials,
  toApiKey,
  toAttempt,
  toAuditEntry,
  toConfirmation,
  toMerchant,
  toTransaction,
  type Row,
} from '../rows.js';
import {
  type ClaimOptions,
  type ClaimWant,
  type ConfirmationQuery,
  type IngestClaimer,
  type IngestOp,
  type IngestResult,
  type OutcomeRecord,
  type OutcomesRecorded,
  type PurgeBatch,
  type PurgeCursor,
  type Store,
  type StoredCredential,
} from '../store.js';
import { ingestBatch, IngestRace } from './pg-ingest.js';
import { claimDue, claimForMerchants } from './pg-claims.js';
import { applyOutcomes } from './pg-outcomes.js';
import { isConnectionError, isTransient, translate } from './pg-errors.js';
import { PgListener, type DueListener } from './pg-listener.js';
import { dropOldPartitions, ensurePartitions } from './pg-partitions.js';
import { deleteBareTransactions, deleteDelivered, deleteOldIdempotencyKeys } from './pg-retention.js';

/** Options for the PostgreSQL store. */
export interface PostgresStoreOptions {
  /** `postgres://user@host:port/db` */
  readonly url: string;
  /** Schema for every table (search_path); created by migrate(). Default `public`. */
  readonly schema?: string;
  /** Most connections this node opens for queries (the listener adds one). */
  readonly poolSize?: number;
  /** Told about connection errors the store recovers from by itself (for logs). */
  readonly onError?: (err: unknown) => void;
  /** Weekly partitions created behind the current week if missing (they are made 2 weeks ahead); default 0. */
  readonly partitionWeeksBehind?: number;
}

/** Most merchant ids named in one NOTIFY; beyond, the payload is empty and workers scan the queue. */
const NOTIFY_MAX_BYTES = 7_000;
/** How many times a batch runs again after a deadlock or a concurrent insert of the same key. */
const RUN_AGAIN = 4;
const CONFIRMATION_COLUMNS =
  'id, transaction_id, merchant_id, seq, type, state, due_at, attempts, delivered_at, last_error, created_at';
const API_KEY_COLUMNS = 'id, merchant_id, prefix, name, created_at, revoked_at';

/**
 * The shared store for many nodes. Same tables, states and rules as the SQLite store (see
 * `store.ts` and the contract suite); what differs is concurrency, because several processes
 * write at once:
 *
 *  - claims take rows with `FOR UPDATE SKIP LOCKED`, so two workers never claim the same row and
 *    never wait for each other; `lease_token` is incremented on every claim and every outcome is
 *    written only `WHERE lease_token = <claim's token>` (fencing);
 *  - per-transaction order: ingest and outcome recording both lock the `transactions` row (in
 *    (id, merchant_id) order, its key: ids are unique per merchant only) before deciding whether a
 *    confirmation is `waiting` or may be promoted;
 *  - one group commit is one PostgreSQL transaction, committed with `synchronous_commit = on`, and
 *    it sends one NOTIFY naming its merchants (delivered by PostgreSQL only if it commits);
 *  - a lost connection surfaces as `store_unavailable` (503); the pool opens new connections by
 *    itself once the server is back, and the listener reconnects on its own.
 */
export class PostgresStore implements Store {
  readonly dialect = 'postgres';
  readonly channel: string;
  private readonly pool: pg.Pool;
  private readonly clientConfig: pg.ClientConfig;
  private readonly schema: string;
  private readonly onError: (err: unknown) => void;
  private readonly listeners = new Set<PgListener>();
  private readonly weeksBehind: number;

  constructor(opts: PostgresStoreOptions) {
    this.schema = opts.schema ?? 'public';
    if (!/^[a-z_][a-z0-9_]{0,40}$/.test(this.schema)) throw new Error(`invalid schema name ${this.schema}`);
    this.channel = this.schema === 'public' ? 'confirma_due' : `confirma_due_${this.schema}`;
    this.onError = opts.onError ?? (() => undefined);
    this.weeksBehind = opts.partitionWeeksBehind ?? 0;
    this.clientConfig = {
      connectionString: opts.url,
      // Durable commits whatever the server default says; tables in our schema only.
      options: `-c search_path=${this.schema} -c synchronous_commit=on`,
      connectionTimeoutMillis: 10_000,
      keepAlive: true,
    };
    this.pool = new pg.Pool({ ...this.clientConfig, max: opts.poolSize ?? 10, idleTimeoutMillis: 30_000 });
    // An idle connection dropped by the server (restart, failover) must not crash the process.
    this.pool.on('error', (err) => this.onError(err));
    // A server shutdown (57P01) reaches a checked-out connection between two queries as an 'error'
    // event, which would crash the process if nobody listened; the failing query reports it anyway.
    this.pool.on('connect', (client) => client.on('error', (err) => this.onError(err)));
  }

  /** Runs `fn` in one transaction; runs it again after a deadlock or a concurrent-insert race. */
  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let round = 1; ; round++) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (err) {
        throw translate(err);
      }
      let broken = false;
      try {
        await client.query('BEGIN');
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        broken = isConnectionError(err);
        if (!broken) await client.query('ROLLBACK').catch(() => (broken = true));
        if (!broken && round < RUN_AGAIN && (isTransient(err) || err instanceof IngestRace)) continue;
        throw translate(err);
      } finally {
        client.release(broken);
      }
    }
  }

  /** One statement outside an explicit transaction. */
  private async q(sql: string, params: unknown[] = []): Promise<pg.QueryResult<Row>> {
    try {
      return await this.pool.query<Row>(sql, params);
    } catch (err) {
      throw translate(err);
    }
  }

  async migrate(): Promise<string[]> {
    return this.tx(async (c) => {
      // Many nodes may start at once: one applies the migrations, the others wait and find them done.
      await c.query(`SELECT pg_advisory_xact_lock(hashtext('confirma_migrate_' || $1::text))`, [this.schema]);
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
      await c.query(`CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`);
      const { rows } = await c.query<Row>('SELECT name FROM schema_migrations');
      const applied = new Set(rows.map((r) => String(r.name)));
      const done: string[] = [];
      for (const m of loadMigrations('postgres')) {
        if (applied.has(m.name)) continue;
        await c.query(m.sql);
        await c.query('INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)', [m.name, Date.now()]);
        done.push(m.name);
      }
      return done;
    }).then(async (done) => {
      await this.tx((c) => ensurePartitions(c, this.schema, Date.now(), this.weeksBehind));
      return done;
    });
  }

  async ping(): Promise<void> {
    await this.q('SELECT 1');
  }

  async close(): Promise<void> {
    await Promise.all([...this.listeners].map((l) => l.close()));
    this.listeners.clear();
    await this.pool.end();
  }

  // --- merchants and keys ---

  async createMerchant(m: NewMerchant, secret: string, apiKey: { id: string; hash: string; prefix: string }): Promise<Merchant> {
    const now = Date.now();
    const s = settingsColumns(m);
    return this.tx(async (c) => {
      const { rows } = await c.query<Row>(
        `INSERT INTO merchants (id, name, url, format, max_in_flight, timeout_ms, retry_schedule, epayco_cust_id,
           epayco_p_key_sealed, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING *`,
        [
          m.id,
          s.name,
          s.url,
          s.format,
          s.max_in_flight,
          s.timeout_ms,
          s.retry_schedule,
          s.epayco_cust_id,
          s.epayco_p_key_sealed,
          now,
        ],
      );
      await c.query('INSERT INTO merchant_secrets (merchant_id, secret, created_at) VALUES ($1, $2, $3)', [m.id, secret, now]);
      await c.query('INSERT INTO api_keys (id, merchant_id, prefix, hash, created_at) VALUES ($1, $2, $3, $4, $5)', [
        apiKey.id,
        m.id,
        apiKey.prefix,
        apiKey.hash,
        now,
      ]);
      return toMerchant(rows[0]!);
    });
  }

  async getMerchant(id: string): Promise<Merchant | undefined> {
    const { rows } = await this.q('SELECT * FROM merchants WHERE id = $1', [id]);
    return rows[0] === undefined ? undefined : toMerchant(rows[0]);
  }

  async listMerchants(after: string | undefined, limit: number): Promise<Merchant[]> {
    const { rows } = await this.q('SELECT * FROM merchants WHERE id > $1 ORDER BY id LIMIT $2', [after ?? '', limit]);
    return rows.map(toMerchant);
  }

  async updateMerchant(id: string, patch: MerchantPatch, now: number): Promise<Merchant | undefined> {
    return this.tx(async (c) => {
      const { rows } = await c.query<Row>('SELECT * FROM merchants WHERE id = $1 FOR UPDATE', [id]);
      if (rows[0] === undefined) return undefined;
      const { columns: m, queue } = patchMerchant(toMerchant(rows[0]), patch, now);
      const updated = await c.query<Row>(
        `UPDATE merchants SET name = $2, url = $3, format = $4, max_in_flight = $5, timeout_ms = $6, retry_schedule = $7,
           disabled_at = $8, disabled_reason = $9, updated_at = $10, epayco_cust_id = $11, epayco_p_key_sealed = $12
         WHERE id = $1 RETURNING *`,
        [
          id,
          m.name,
          m.url,
          m.format,
          m.max_in_flight,
          m.timeout_ms,
          m.retry_schedule,
          m.disabled_at,
          m.disabled_reason,
          now,
          m.epayco_cust_id,
          m.epayco_p_key_sealed,
        ],
      );
      if (queue === 'unpark') {
        await c.query(`UPDATE confirmations SET state = 'pending', due_at = $1 WHERE merchant_id = $2 AND state = 'parked'`, [
          now,
          id,
        ]);
        await this.notify(c, id); // unparked rows are due now: tell the workers
      }
      if (queue === 'park') {
        await c.query(`UPDATE confirmations SET state = 'parked', due_at = NULL WHERE merchant_id = $1 AND state = 'pending'`, [
          id,
        ]);
      }
      return toMerchant(updated.rows[0]!);
    });
  }

  async rotateSecret(merchantId: string, secret: string, now: number, overlapUntil: number): Promise<boolean> {
    return this.tx(async (c) => {
      const { rowCount } = await c.query('SELECT 1 FROM merchants WHERE id = $1 FOR UPDATE', [merchantId]);
      if (rowCount === 0) return false;
      await c.query('UPDATE merchant_secrets SET expires_at = $1 WHERE merchant_id = $2 AND expires_at IS NULL', [
        overlapUntil,
        merchantId,
      ]);
      await c.query('INSERT INTO merchant_secrets (merchant_id, secret, created_at) VALUES ($1, $2, $3)', [
        merchantId,
        secret,
        now,
      ]);
      return true;
    });
  }

  async getDeliveryTarget(merchantId: string, now: number): Promise<DeliveryTarget | undefined> {
    const { rows } = await this.q(
      `SELECT m.*, l.live_secrets, l.valid_until
       FROM merchants m
       CROSS JOIN LATERAL (SELECT coalesce(array_agg(s.secret ORDER BY s.id DESC), '{}') AS live_secrets,
                                  min(s.expires_at) AS valid_until
                           FROM merchant_secrets s
                           WHERE s.merchant_id = m.id AND (s.expires_at IS NULL OR s.expires_at > $2)) l
       WHERE m.id = $1`,
      [merchantId, now],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    return {
      merchant: toMerchant(row),
      secrets: (row.live_secrets as string[]).map(String),
      // Earliest expiry among the secrets returned (min ignores the current one's NULL).
      validUntil: row.valid_until === null ? null : Number(row.valid_until),
    };
  }

  async findApiKey(hash: string): Promise<{ id: string; merchantId: string | null } | undefined> {
    const { rows } = await this.q('SELECT id, merchant_id FROM api_keys WHERE hash = $1 AND revoked_at IS NULL', [hash]);
    const row = rows[0];
    if (row === undefined) return undefined;
    return { id: String(row.id), merchantId: row.merchant_id === null ? null : String(row.merchant_id) };
  }

  async createApiKey(key: NewApiKey, now: number): Promise<ApiKeyRecord> {
    const { rows } = await this.q(
      `INSERT INTO api_keys (id, merchant_id, prefix, hash, name, created_at) VALUES ($1, $2, $3, $4, $5, $6)
       RETURNING ${API_KEY_COLUMNS}`,
      [key.id, key.merchantId, key.prefix, key.hash, key.name, now],
    );
    return toApiKey(rows[0]!);
  }

  async listApiKeys(merchantId?: string | null): Promise<ApiKeyRecord[]> {
    const { rows } =
      merchantId === undefined
        ? await this.q(`SELECT ${API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, id COLLATE "C"`)
        : merchantId === null
          ? await this.q(`SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE merchant_id IS NULL ORDER BY created_at, id COLLATE "C"`)
          : await this.q(`SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE merchant_id = $1 ORDER BY created_at, id COLLATE "C"`, [
              merchantId,
            ]);
    return rows.map(toApiKey);
  }

  async revokeApiKey(id: string, now: number): Promise<ApiKeyRecord | undefined> {
    // Revoking twice keeps the first time.
    const { rows } = await this.q(
      `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING ${API_KEY_COLUMNS}`,
      [now, id],
    );
    return rows[0] === undefined ? undefined : toApiKey(rows[0]);
  }

  // --- audit ---

  async appendAudit(entry: NewAuditEntry): Promise<void> {
    await this.q('INSERT INTO audit_log (at, actor, action, target, details) VALUES ($1, $2, $3, $4, $5)', [
      entry.at,
      entry.actor,
      entry.action,
      entry.target,
      entry.details === null ? null : JSON.stringify(entry.details),
    ]);
  }

  async listAudit(after: number | undefined, limit: number): Promise<AuditEntry[]> {
    const { rows } = await this.q('SELECT * FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2', [after ?? 0, limit]);
    return rows.map(toAuditEntry);
  }

  // --- ingest ---

  async ingest(ops: readonly IngestOp[], now: number, claimer?: IngestClaimer): Promise<IngestResult[]> {
    return this.tx(async (c) => {
      // A batch run again (a race or a transient error) may count some takes twice: it then takes fewer.
      const results = await ingestBatch(c, ops, now, claimer);
      const merchants = new Set<string>();
      for (const r of results) if (r.ok && r.httpStatus === 201) merchants.add(r.transaction.merchantId);
      // Status changes also make rows due; name every merchant written for.
      ops.forEach((op, i) => {
        const r = results[i];
        if (op.kind === 'status' && r?.ok === true) merchants.add(r.transaction.merchantId);
      });
      if (merchants.size > 0) {
        let payload = [...merchants].join(',');
        if (Buffer.byteLength(payload) > NOTIFY_MAX_BYTES) payload = '';
        // Sent by PostgreSQL at commit, and only if the batch commits: one per batch, never per row.
        await c.query('SELECT pg_notify($1, $2)', [this.channel, payload]);
      }
      return results;
    });
  }

  // --- reads ---

  async getTransaction(merchantId: string, id: string): Promise<Transaction | undefined> {
    const { rows } = await this.q('SELECT * FROM transactions WHERE id = $1 AND merchant_id = $2', [id, merchantId]);
    return rows[0] === undefined ? undefined : toTransaction(rows[0]);
  }

  async findTransactionsById(id: string, limit: number): Promise<Transaction[]> {
    const { rows } = await this.q('SELECT * FROM transactions WHERE id = $1 ORDER BY merchant_id COLLATE "C" LIMIT $2', [
      id,
      limit,
    ]);
    return rows.map(toTransaction);
  }

  async findTransactionsByReference(merchantId: string | undefined, reference: string, limit: number): Promise<Transaction[]> {
    const { rows } =
      merchantId === undefined
        ? await this.q(
            'SELECT * FROM transactions WHERE reference = $1 ORDER BY created_at DESC, id COLLATE "C" DESC, merchant_id COLLATE "C" DESC LIMIT $2',
            [reference, limit],
          )
        : await this.q(
            'SELECT * FROM transactions WHERE merchant_id = $1 AND reference = $2 ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT $3',
            [merchantId, reference, limit],
          );
    return rows.map(toTransaction);
  }

  async listTransactionConfirmations(merchantId: string, transactionId: string): Promise<Confirmation[]> {
    const { rows } = await this.q(
      `SELECT ${CONFIRMATION_COLUMNS} FROM confirmations WHERE transaction_id = $1 AND merchant_id = $2 ORDER BY seq`,
      [transactionId, merchantId],
    );
    return rows.map(toConfirmation);
  }

  async getConfirmation(id: string): Promise<Confirmation | undefined> {
    const { rows } = await this.q(`SELECT ${CONFIRMATION_COLUMNS} FROM confirmations WHERE id = $1`, [id]);
    return rows[0] === undefined ? undefined : toConfirmation(rows[0]);
  }

  async listConfirmations(q: ConfirmationQuery): Promise<Confirmation[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: string, value: unknown): void => {
      params.push(value);
      where.push(clause.replace('?', `$${params.length}`));
    };
    if (q.merchantId !== undefined) add('merchant_id = ?', q.merchantId);
    if (q.state !== undefined) add('state = ?', q.state);
    if (q.after !== undefined) add('id > ?', q.after);
    params.push(q.limit);
    const { rows } = await this.q(
      `SELECT ${CONFIRMATION_COLUMNS} FROM confirmations ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY id LIMIT $${params.length}`,
      params,
    );
    return rows.map(toConfirmation);
  }

  async listAttempts(confirmationId: string): Promise<Attempt[]> {
    const { rows } = await this.q('SELECT * FROM attempts WHERE confirmation_id = $1 ORDER BY number', [confirmationId]);
    return rows.map(toAttempt);
  }

  // --- dead letters ---

  async redeliver(id: string, now: number): Promise<'queued' | 'in_flight' | 'not_found'> {
    return this.tx(async (c) => {
      const { rows } = await c.query<Row>('SELECT state, merchant_id FROM confirmations WHERE id = $1 FOR UPDATE', [id]);
      const row = rows[0];
      if (row === undefined) return 'not_found';
      if (row.state === 'inflight') return 'in_flight';
      if (row.state === 'delivered' || row.state === 'dead') {
        await c.query(`UPDATE confirmations SET state = 'pending', due_at = $1, tries = 0, last_error = NULL WHERE id = $2`, [
          now,
          id,
        ]);
        await this.notify(c, String(row.merchant_id));
      }
      return 'queued';
    });
  }

  async replayDead(merchantId: string, now: number): Promise<number> {
    return this.tx(async (c) => {
      const { rowCount } = await c.query(
        `UPDATE confirmations SET state = 'pending', due_at = $1, tries = 0 WHERE merchant_id = $2 AND state = 'dead'`,
        [now, merchantId],
      );
      if ((rowCount ?? 0) > 0) await this.notify(c, merchantId);
      return rowCount ?? 0;
    });
  }

  /** Wakes the workers for a merchant once this transaction commits (API nodes do not dispatch). */
  private async notify(c: pg.PoolClient, merchantId: string): Promise<void> {
    await c.query('SELECT pg_notify($1, $2)', [this.channel, merchantId]);
  }

  // --- dispatch ---

  async claimDue(opts: ClaimOptions): Promise<Claim[]> {
    return this.tx((c) => claimDue(c, opts));
  }

  async claimForMerchants(wants: readonly ClaimWant[], now: number, leaseMs: number): Promise<Claim[]> {
    if (wants.length === 0) return [];
    // One statement needs no transaction of its own; a plain claim and a probe's take two (pg-claims.ts).
    const both = wants.some((w) => w.preferFirstAttempts === true) && wants.some((w) => w.preferFirstAttempts !== true);
    if (!both) return claimForMerchants((sql, params) => this.q(sql, params), wants, now, leaseMs);
    return this.tx((c) => claimForMerchants((sql, params) => c.query<Row>(sql, params), wants, now, leaseMs));
  }

  async recordOutcomes(records: readonly OutcomeRecord[], now: number): Promise<OutcomesRecorded> {
    if (records.length === 0) return { recorded: 0, stale: 0, promoted: [] };
    return this.tx((c) => applyOutcomes(c, records, now));
  }

  async releaseClaims(claims: readonly Claim[], now: number): Promise<void> {
    if (claims.length === 0) return;
    await this.q(
      `UPDATE confirmations c
         SET state = CASE WHEN m.disabled_at IS NULL THEN 'pending' ELSE 'parked' END,
             due_at = CASE WHEN m.disabled_at IS NULL THEN $3::bigint ELSE NULL END
       FROM merchants m, unnest($1::text[], $2::int[]) AS u(id, token)
       WHERE c.id = u.id AND c.lease_token = u.token AND c.state = 'inflight' AND m.id = c.merchant_id`,
      [claims.map((c) => c.id), claims.map((c) => c.token), now],
    );
  }

  async nextDueAt(): Promise<number | null> {
    const { rows } = await this.q(
      `SELECT due_at FROM confirmations WHERE state IN (${QUEUE_STATES_SQL}) AND due_at IS NOT NULL ORDER BY due_at LIMIT 1`,
    );
    return rows[0] === undefined ? null : Number(rows[0].due_at);
  }

  async countByState(): Promise<Record<ConfirmationState, number>> {
    const counts = Object.fromEntries(CONFIRMATION_STATES.map((s) => [s, 0])) as Record<ConfirmationState, number>;
    const { rows } = await this.q('SELECT state, count(*) AS n FROM confirmations GROUP BY state');
    for (const r of rows) counts[r.state as ConfirmationState] = Number(r.n);
    return counts;
  }

  async countOpen(): Promise<Record<OpenState, number>> {
    const counts = Object.fromEntries(OPEN_STATES.map((s) => [s, 0])) as Record<OpenState, number>;
    // Ranges of the (state, id) index, which holds only the open states: delivered rows are never
    // read. The states are written into the statement so the planner can prove it may use it.
    const { rows } = await this.q(
      `SELECT state, count(*) AS n FROM confirmations WHERE state IN (${OPEN_STATES_SQL}) GROUP BY state`,
    );
    for (const r of rows) counts[r.state as OpenState] = Number(r.n);
    return counts;
  }

  // --- multi-node and retention ---

  async subscribeDue(listener: DueListener): Promise<() => Promise<void>> {
    const l = new PgListener(this.clientConfig, this.channel, listener, this.onError);
    this.listeners.add(l);
    await l.start();
    return async () => {
      this.listeners.delete(l);
      await l.close();
    };
  }

  async purgeHistory(before: number, limit: number): Promise<number> {
    // Maintenance first: the weeks ahead must exist; whole old weeks holding only delivered rows go
    // at once (their rows are not counted in the result: dropping a table does not count rows).
    await this.tx((c) => ensurePartitions(c, this.schema, Date.now(), this.weeksBehind));
    try {
      await this.tx((c) => dropOldPartitions(c, this.schema, before));
    } catch (err) {
      // lock_timeout: the tables were busy; the next pass drops the week. Batched deletes go on.
      if ((err as { code?: unknown }).code !== '55P03') throw err;
      this.onError(err);
    }
    // Then a short statement per batch (pg-retention.ts).
    return deleteDelivered((sql, params) => this.q(sql, params), before, limit);
  }

  async listStoredCredentials(): Promise<StoredCredential[]> {
    const secrets = await this.q('SELECT id, merchant_id, secret FROM merchant_secrets ORDER BY id');
    const pKeys = await this.q('SELECT id, epayco_p_key_sealed FROM merchants WHERE epayco_p_key_sealed IS NOT NULL ORDER BY id');
    return storedCredentials(secrets.rows, pKeys.rows);
  }

  async replaceStoredCredential(c: StoredCredential, next: string): Promise<boolean> {
    const { rowCount } =
      c.kind === 'signing_secret'
        ? await this.q('UPDATE merchant_secrets SET secret = $1 WHERE id = $2 AND merchant_id = $3 AND secret = $4', [
            next,
            Number(c.ref),
            c.merchantId,
            c.stored,
          ])
        : await this.q('UPDATE merchants SET epayco_p_key_sealed = $1 WHERE id = $2 AND epayco_p_key_sealed = $3', [
            next,
            c.merchantId,
            c.stored,
          ]);
    return rowCount === 1;
  }

  async purgeTransactions(before: number, limit: number, after?: PurgeCursor): Promise<PurgeBatch> {
    return this.tx((c) => deleteBareTransactions(c, before, limit, after));
  }

  async purgeIdempotencyKeys(before: number, limit: number): Promise<number> {
    return deleteOldIdempotencyKeys((sql, params) => this.q(sql, params), before, limit);
  }
}
