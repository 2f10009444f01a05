import Database from 'better-sqlite3';
import type { ApiKeyRecord, NewApiKey } from '../../domain/api-key.js';
import type { AuditEntry, NewAuditEntry } from '../../domain/audit.js';
import type { Attempt, Claim, Confirmation, ConfirmationState, OpenState } from '../../domain/confirmation.js';
import { CONFIRMATION_STATES, OPEN_STATES } from '../../domain/confirmation.js';
import type { DeliveryTarget, Merchant, MerchantPatch, NewMerchant } from '../../domain/merchant.js';
import type { Transaction } from '../../domain/transaction.js';
import { idFloor } from '../../domain/ids.js';
import { loadMigrations } from '../migrations.js';
import {
  toMerchant,
  toApiKey,
  toTransaction,
  toAttempt,
  toClaim,
  toConfirmation,
  toAuditEntry,
  storedCredentials,
  patchMerchant,
  settingsColumns,
  nextPurgeCursor,
  outcomeColumns,
  releasesOrder,
  withinCapacity,
  type Row,
} from '../rows.js';
import { secureDatabaseFiles } from './file-modes.js';
import { translateRejections } from './sqlite-errors.js';
import { IngestBatch } from './sqlite-ingest.js';
import { CONFIRMATION_COLUMNS, prepareStatements } from './statements.js';

import {
  FIRST_ATTEMPT_LOOKAHEAD,
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
import { STORE_METHODS } from '../store.js';

/** Options for the embedded store. */
export interface SqliteStoreOptions {
  /** Path of the database file; its folder is created if missing (owner only, as the file: see `file-modes.ts`). */
  readonly file: string;
  /** Milliseconds a writer waits for a lock held by another process. */
  readonly busyTimeoutMs?: number;
}

/**
 * The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a commit survives
 * kill -9 and power loss. better-sqlite3 is synchronous, so every method runs to completion on the
 * event loop (or on its own thread, see `ThreadedSqliteStore`): there is exactly one writer and no
 * interleaving inside a transaction. Claims and outcomes are committed with `synchronous=NORMAL`
 * (see `relaxed`), every ingest with FULL. A full disk, an I/O error or a lock held too long
 * answers `store_unavailable` from every method (`sqlite-errors.ts`).
 */
export class SqliteStore implements Store {
  readonly dialect = 'sqlite';
  private readonly db: Database.Database;
  // Prepared once the schema exists (see prepare()).
  private s!: ReturnType<typeof prepareStatements>;
  private ingestTx!: Database.Transaction<(ops: readonly IngestOp[], now: number, claimer?: IngestClaimer) => IngestResult[]>;
  private claimTx!: Database.Transaction<(opts: ClaimOptions) => Claim[]>;
  private claimForTx!: Database.Transaction<(wants: readonly ClaimWant[], now: number, leaseMs: number) => Claim[]>;
  private outcomeTx!: Database.Transaction<(records: readonly OutcomeRecord[], now: number) => OutcomesRecorded>;
  private migrated = false;
  private readonly syncNormal: Database.Statement;
  private readonly syncFull: Database.Statement;

  constructor(opts: SqliteStoreOptions) {
    secureDatabaseFiles(opts.file);
    this.db = new Database(opts.file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.syncNormal = this.db.prepare('PRAGMA synchronous = NORMAL');
    this.syncFull = this.db.prepare('PRAGMA synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
    // Checkpoint in bigger steps than the default 1000 pages so the WAL is not rewritten constantly.
    this.db.pragma('wal_autocheckpoint = 4000');
    this.db.pragma('cache_size = -16384');
    this.db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`);
  }

  async migrate(): Promise<string[]> {
    const applied = new Set((this.db.prepare('SELECT name FROM schema_migrations').all() as Row[]).map((r) => String(r.name)));
    const now = Date.now();
    const done: string[] = [];
    for (const m of loadMigrations('sqlite')) {
      if (applied.has(m.name)) continue;
      this.db
        .transaction(() => {
          this.db.exec(m.sql);
          this.db.prepare('INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)').run(m.name, now);
        })
        .immediate();
      done.push(m.name);
    }
    this.prepare();
    return done;
  }

  /** Statements are prepared once the schema exists. */
  private prepare(): void {
    if (this.migrated) return;
    this.migrated = true;
    this.s = prepareStatements(this.db);
    const batch = new IngestBatch(this.s);
    this.ingestTx = this.db.transaction((ops: readonly IngestOp[], now: number, claimer?: IngestClaimer) =>
      batch.apply(ops, now, claimer),
    );
    this.claimTx = this.db.transaction((opts: ClaimOptions) => this.claimRows(opts));
    this.claimForTx = this.db.transaction((wants: readonly ClaimWant[], now: number, leaseMs: number) => {
      const claims: Claim[] = [];
      for (const w of wants) {
        const rows =
          w.preferFirstAttempts === true
            ? this.s.selectFirstDueFor.all(w.merchantId, now, FIRST_ATTEMPT_LOOKAHEAD, w.limit)
            : this.s.selectDueFor.all(w.merchantId, now, w.limit);
        for (const r of rows as Row[]) {
          claims.push(this.claimRow(r, now + leaseMs));
        }
      }
      return claims;
    });
    this.outcomeTx = this.db.transaction((records: readonly OutcomeRecord[], now: number) => this.applyOutcomes(records, now));
  }

  private ready(): void {
    if (!this.migrated) throw new Error('SqliteStore used before migrate()');
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.db.open) {
      try {
        this.db.pragma('wal_checkpoint(TRUNCATE)');
      } catch {
        // A full disk, say: the WAL stays, and the next open replays it. Closing matters more.
      } finally {
        this.db.close();
      }
    }
  }

  // --- merchants and keys ---

  async createMerchant(m: NewMerchant, secret: string, apiKey: { id: string; hash: string; prefix: string }): Promise<Merchant> {
    this.ready();
    const now = Date.now();
    this.db
      .transaction(() => {
        this.s.insertMerchant.run({ id: m.id, ...settingsColumns(m), now });
        this.s.insertSecret.run(m.id, secret, now);
        this.s.insertApiKey.run(apiKey.id, m.id, apiKey.prefix, apiKey.hash, now);
      })
      .immediate();
    return this.mustMerchant(m.id);
  }

  private mustMerchant(id: string): Merchant {
    const row = this.s.getMerchant.get(id) as Row | undefined;
    if (row === undefined) throw new Error(`merchant ${id} vanished`);
    return toMerchant(row);
  }

  async getMerchant(id: string): Promise<Merchant | undefined> {
    this.ready();
    const row = this.s.getMerchant.get(id) as Row | undefined;
    return row === undefined ? undefined : toMerchant(row);
  }

  async listMerchants(after: string | undefined, limit: number): Promise<Merchant[]> {
    this.ready();
    return (this.s.listMerchants.all(after ?? '', limit) as Row[]).map(toMerchant);
  }

  async updateMerchant(id: string, patch: MerchantPatch, now: number): Promise<Merchant | undefined> {
    this.ready();
    return this.db
      .transaction((): Merchant | undefined => {
        const row = this.s.getMerchant.get(id) as Row | undefined;
        if (row === undefined) return undefined;
        const { columns, queue } = patchMerchant(toMerchant(row), patch, now);
        this.s.updateMerchant.run({ id, ...columns, now });
        if (queue === 'unpark') this.s.unparkMerchant.run(now, id);
        if (queue === 'park') this.s.parkMerchant.run(id);
        return this.mustMerchant(id);
      })
      .immediate();
  }

  async rotateSecret(merchantId: string, secret: string, now: number, overlapUntil: number): Promise<boolean> {
    this.ready();
    return this.db
      .transaction((): boolean => {
        if (this.s.getMerchant.get(merchantId) === undefined) return false;
        this.s.expireSecrets.run(overlapUntil, merchantId);
        this.s.insertSecret.run(merchantId, secret, now);
        return true;
      })
      .immediate();
  }

  async listStoredCredentials(): Promise<StoredCredential[]> {
    this.ready();
    return storedCredentials(this.s.allSecrets.all() as Row[], this.s.allPKeys.all() as Row[]);
  }

  async replaceStoredCredential(c: StoredCredential, next: string): Promise<boolean> {
    this.ready();
    const changed =
      c.kind === 'signing_secret'
        ? this.s.replaceSecret.run(next, Number(c.ref), c.merchantId, c.stored).changes
        : this.s.replacePKey.run(next, c.merchantId, c.stored).changes;
    return changed === 1;
  }

  async getDeliveryTarget(merchantId: string, now: number): Promise<DeliveryTarget | undefined> {
    this.ready();
    const row = this.s.getMerchant.get(merchantId) as Row | undefined;
    if (row === undefined) return undefined;
    const rows = this.s.liveSecrets.all(merchantId, now) as Row[];
    const expiries = rows.filter((r) => r.expires_at !== null).map((r) => Number(r.expires_at));
    return {
      merchant: toMerchant(row),
      secrets: rows.map((r) => String(r.secret)),
      validUntil: expiries.length === 0 ? null : Math.min(...expiries),
    };
  }

  async findApiKey(hash: string): Promise<{ id: string; merchantId: string | null } | undefined> {
    this.ready();
    const row = this.s.findApiKey.get(hash) as Row | undefined;
    if (row === undefined) return undefined;
    return { id: String(row.id), merchantId: row.merchant_id === null ? null : String(row.merchant_id) };
  }

  async createApiKey(key: NewApiKey, now: number): Promise<ApiKeyRecord> {
    this.ready();
    this.s.insertNamedApiKey.run(key.id, key.merchantId, key.prefix, key.hash, key.name, now);
    return toApiKey(this.s.getApiKey.get(key.id) as Row);
  }

  async listApiKeys(merchantId?: string | null): Promise<ApiKeyRecord[]> {
    this.ready();
    const rows =
      merchantId === undefined
        ? this.s.listApiKeys.all()
        : merchantId === null
          ? this.s.listAdminKeys.all()
          : this.s.listMerchantKeys.all(merchantId);
    return (rows as Row[]).map(toApiKey);
  }

  async revokeApiKey(id: string, now: number): Promise<ApiKeyRecord | undefined> {
    this.ready();
    this.s.revokeApiKey.run(now, id);
    const row = this.s.getApiKey.get(id) as Row | undefined;
    return row === undefined ? undefined : toApiKey(row);
  }

  async appendAudit(entry: NewAuditEntry): Promise<void> {
    this.ready();
    this.s.insertAudit.run(
      entry.at,
      entry.actor,
      entry.action,
      entry.target,
      entry.details === null ? null : JSON.stringify(entry.details),
    );
  }

  async listAudit(after: number | undefined, limit: number): Promise<AuditEntry[]> {
    this.ready();
    return (this.s.listAudit.all(after ?? 0, limit) as Row[]).map(toAuditEntry);
  }

  // --- ingest ---

  async ingest(ops: readonly IngestOp[], now: number, claimer?: IngestClaimer): Promise<IngestResult[]> {
    this.ready();
    return this.ingestTx.immediate(ops, now, claimer);
  }

  // --- reads ---

  async getTransaction(merchantId: string, id: string): Promise<Transaction | undefined> {
    this.ready();
    const row = this.s.getTransaction.get(id, merchantId) as Row | undefined;
    return row === undefined ? undefined : toTransaction(row);
  }

  async findTransactionsById(id: string, limit: number): Promise<Transaction[]> {
    this.ready();
    return (this.s.findById.all(id, limit) as Row[]).map(toTransaction);
  }

  async findTransactionsByReference(merchantId: string | undefined, reference: string, limit: number): Promise<Transaction[]> {
    this.ready();
    const rows =
      merchantId === undefined
        ? (this.s.findByReference.all(reference, limit) as Row[])
        : (this.s.findByMerchantReference.all(merchantId, reference, limit) as Row[]);
    return rows.map(toTransaction);
  }

  async listTransactionConfirmations(merchantId: string, transactionId: string): Promise<Confirmation[]> {
    this.ready();
    return (this.s.listTxConfirmations.all(transactionId, merchantId) as Row[]).map(toConfirmation);
  }

  async getConfirmation(id: string): Promise<Confirmation | undefined> {
    this.ready();
    const row = this.s.getConfirmation.get(id) as Row | undefined;
    return row === undefined ? undefined : toConfirmation(row);
  }

  async listConfirmations(q: ConfirmationQuery): Promise<Confirmation[]> {
    this.ready();
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.merchantId !== undefined) {
      where.push('merchant_id = ?');
      params.push(q.merchantId);
    }
    if (q.state !== undefined) {
      where.push('state = ?');
      params.push(q.state);
    }
    if (q.after !== undefined) {
      where.push('id > ?');
      params.push(q.after);
    }
    const sql = `SELECT ${CONFIRMATION_COLUMNS} FROM confirmations ${
      where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''
    } ORDER BY id LIMIT ?`;
    return (this.db.prepare(sql).all(...params, q.limit) as Row[]).map(toConfirmation);
  }

  async listAttempts(confirmationId: string): Promise<Attempt[]> {
    this.ready();
    return (this.s.listAttempts.all(confirmationId) as Row[]).map(toAttempt);
  }

  // --- dead letters ---

  async redeliver(id: string, now: number): Promise<'queued' | 'in_flight' | 'not_found'> {
    this.ready();
    return this.db
      .transaction((): 'queued' | 'in_flight' | 'not_found' => {
        const row = this.s.getConfirmation.get(id) as Row | undefined;
        if (row === undefined) return 'not_found';
        if (row.state === 'inflight') return 'in_flight';
        if (row.state === 'delivered' || row.state === 'dead') this.s.requeue.run(now, id);
        return 'queued';
      })
      .immediate();
  }

  async replayDead(merchantId: string, now: number): Promise<number> {
    this.ready();
    return this.s.replayDead.run(now, merchantId).changes;
  }

  // --- dispatch ---

  async claimDue(opts: ClaimOptions): Promise<Claim[]> {
    this.ready();
    return this.relaxed(() => this.claimTx.immediate(opts));
  }

  private claimRows(opts: ClaimOptions): Claim[] {
    const rows = this.s.selectDue.all(opts.now, JSON.stringify(opts.exclude), opts.limit) as Row[];
    const leaseUntil = opts.now + opts.leaseMs;
    return withinCapacity(rows, opts).map((r) => this.claimRow(r, leaseUntil));
  }

  private claimRow(r: Row, leaseUntil: number): Claim {
    const token = Number(r.lease_token) + 1;
    this.s.claim.run(leaseUntil, token, r.id);
    return toClaim(r, String(r.body), token);
  }

  async claimForMerchants(wants: readonly ClaimWant[], now: number, leaseMs: number): Promise<Claim[]> {
    this.ready();
    return this.relaxed(() => this.claimForTx.immediate(wants, now, leaseMs));
  }

  async recordOutcomes(records: readonly OutcomeRecord[], now: number): Promise<OutcomesRecorded> {
    this.ready();
    return this.relaxed(() => this.outcomeTx.immediate(records, now));
  }

  private applyOutcomes(records: readonly OutcomeRecord[], now: number): OutcomesRecorded {
    let recorded = 0;
    let stale = 0;
    const promoted = new Set<string>();
    for (const { claim, outcome, attempt } of records) {
      const row = outcomeColumns(claim, outcome, now);
      const updated = this.s.recordOutcome.get(
        row.state,
        row.due_at,
        row.tries,
        row.last_error,
        row.delivered_at,
        claim.id,
        claim.token,
      ) as Row | undefined;
      if (updated === undefined) {
        stale++; // the lease lapsed and someone else holds the row now: this outcome must not count
        continue;
      }
      recorded++;
      this.s.insertAttempt.run(
        claim.id,
        updated.attempts,
        attempt.startedAt,
        Math.round(attempt.durationMs),
        attempt.statusCode ?? null,
        attempt.errorKind ?? null,
        attempt.errorMessage ?? null,
        attempt.responseSnippet ?? null,
        outcome.kind,
      );
      // Another attempt may have disabled the merchant (410) while this one was in flight.
      if (outcome.kind === 'retry') this.s.parkIfDisabled.run(claim.id);
      if (outcome.kind === 'disable') {
        this.s.disableMerchant.run(now, outcome.reason, now, claim.merchantId);
        this.s.parkMerchant.run(claim.merchantId);
      }
      if (releasesOrder(outcome.kind)) {
        const next = { now, tx: claim.transactionId, merchant: claim.merchantId };
        if (this.s.promoteNext.run(next).changes > 0) promoted.add(claim.merchantId);
      }
    }
    return { recorded, stale, promoted: [...promoted] };
  }

  async releaseClaims(claims: readonly Claim[], now: number): Promise<void> {
    this.ready();
    this.db.transaction(() => {
      for (const c of claims) this.s.release.run({ now, id: c.id, token: c.token });
    })();
  }

  /**
   * Runs a write with `synchronous=NORMAL`: committed to the WAL without waiting for fsync. Used
   * for claims and outcomes, whose loss in a power cut (never in a process crash: the WAL is in
   * the OS cache) only means sending again with the same webhook-id. The next ingest commit, which
   * does fsync, makes them durable too.
   */
  private relaxed<T>(write: () => T): T {
    this.syncNormal.run();
    try {
      return write();
    } finally {
      this.syncFull.run();
    }
  }

  async nextDueAt(): Promise<number | null> {
    this.ready();
    const row = this.s.nextDue.get() as Row | undefined;
    return row === undefined || row.due_at === null ? null : Number(row.due_at);
  }

  async countByState(): Promise<Record<ConfirmationState, number>> {
    this.ready();
    const counts = Object.fromEntries(CONFIRMATION_STATES.map((s) => [s, 0])) as Record<ConfirmationState, number>;
    for (const r of this.s.countByState.all() as Row[]) counts[r.state as ConfirmationState] = Number(r.n);
    return counts;
  }

  async countOpen(): Promise<Record<OpenState, number>> {
    this.ready();
    const counts = Object.fromEntries(OPEN_STATES.map((s) => [s, 0])) as Record<OpenState, number>;
    for (const r of this.s.countOpen.all() as Row[]) counts[r.state as OpenState] = Number(r.n);
    return counts;
  }

  async subscribeDue(): Promise<() => Promise<void>> {
    // One process owns the file: its own commits wake its dispatcher, so there is nobody to hear.
    return async () => undefined;
  }

  async purgeHistory(before: number, limit: number): Promise<number> {
    this.ready();
    const floor = idFloor('msg', before);
    // Both deletes pick the same rows: nothing else writes between them (one writer, one transaction).
    return this.db
      .transaction((): number => {
        this.s.purgeAttempts.run(floor, limit);
        this.s.purgeBodies.run(floor, limit);
        return this.s.purgeConfirmations.run(floor, limit).changes;
      })
      .immediate();
  }

  async purgeTransactions(before: number, limit: number, after?: PurgeCursor): Promise<PurgeBatch> {
    this.ready();
    return this.db
      .transaction((): PurgeBatch => {
        const rows = this.s.scanOldTransactions.all(
          before,
          after?.createdAt ?? -1,
          after?.id ?? '',
          after?.merchantId ?? '',
          limit,
        ) as Row[];
        let removed = 0;
        for (const r of rows) removed += this.s.purgeTransaction.run(r.id, r.merchant_id, before).changes;
        return { removed, next: nextPurgeCursor(rows, limit) };
      })
      .immediate();
  }

  async purgeIdempotencyKeys(before: number, limit: number): Promise<number> {
    this.ready();
    return this.s.purgeIdempotency.run(before, limit).changes;
  }
}

// Every Store method answers SQLite's "cannot right now" errors as store_unavailable.
translateRejections(SqliteStore.prototype, STORE_METHODS);
