import { Worker } from 'node:worker_threads';
import type { ApiKeyRecord, NewApiKey } from '../../domain/api-key.js';
import type { AuditEntry, NewAuditEntry } from '../../domain/audit.js';
import type { Attempt, Claim, Confirmation, ConfirmationState, OpenState } from '../../domain/confirmation.js';
import type { DeliveryTarget, Merchant, MerchantPatch, NewMerchant } from '../../domain/merchant.js';
import type { Transaction } from '../../domain/transaction.js';
import type {
  ClaimOptions,
  ClaimWant,
  ConfirmationQuery,
  IngestClaimer,
  IngestOp,
  IngestResult,
  OutcomeRecord,
  OutcomesRecorded,
  PurgeBatch,
  PurgeCursor,
  Store,
  StoredCredential,
} from '../store.js';
import type { SqliteStoreOptions } from './sqlite-store.js';
import {
  fromWireError,
  fromWireResults,
  wireCall,
  type ThreadMethod,
  type ThreadResult,
  type ThreadStore,
  type WireClaimer,
  type WireReply,
} from './wire.js';

/**
 * The embedded store on its own thread. better-sqlite3 is synchronous: on the event loop, every
 * commit (and its fsync) stops HTTP intake and delivery while it runs. Here a worker thread owns
 * the connection and the node's main thread only posts calls and awaits answers, so parsing,
 * signing and sending run on one core while SQLite writes on the other. Same file, same
 * guarantees: the thread runs one call at a time, in order.
 */
export class ThreadedSqliteStore implements Store {
  readonly dialect = 'sqlite';
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private failure: Error | undefined;
  private closed: Promise<void> | undefined;

  constructor(opts: SqliteStoreOptions) {
    this.worker = new Worker(new URL('./sqlite-thread.js', import.meta.url), { workerData: opts });
    this.worker.on('message', (reply: WireReply) => {
      const p = this.pending.get(reply.id);
      if (p === undefined) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.value);
      else p.reject(fromWireError(reply.error));
    });
    const fail = (err: Error): void => {
      this.failure ??= err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', (err) => fail(new Error(`the SQLite thread failed: ${err.message}`, { cause: err })));
    this.worker.on('exit', (code) => fail(new Error(`the SQLite thread exited (code ${code})`)));
  }

  /** Runs a `Store` method on the thread; its name and arguments are checked against `ThreadStore`. */
  private call<M extends ThreadMethod>(method: M, ...args: Parameters<ThreadStore[M]>): Promise<ThreadResult<M>> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<ThreadResult<M>>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      try {
        this.worker.postMessage(wireCall(id, method, args));
      } catch (err) {
        // An argument that cannot be copied to the thread: this call fails, nothing else does.
        this.pending.delete(id);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  migrate(): Promise<string[]> {
    return this.call('migrate');
  }
  ping(): Promise<void> {
    return this.call('ping');
  }
  close(): Promise<void> {
    this.closed ??= (async () => {
      if (this.failure === undefined) await this.call('close');
      await this.worker.terminate();
    })();
    return this.closed;
  }

  createMerchant(m: NewMerchant, secret: string, apiKey: { id: string; hash: string; prefix: string }): Promise<Merchant> {
    return this.call('createMerchant', m, secret, apiKey);
  }
  getMerchant(id: string): Promise<Merchant | undefined> {
    return this.call('getMerchant', id);
  }
  listMerchants(after: string | undefined, limit: number): Promise<Merchant[]> {
    return this.call('listMerchants', after, limit);
  }
  updateMerchant(id: string, patch: MerchantPatch, now: number): Promise<Merchant | undefined> {
    return this.call('updateMerchant', id, patch, now);
  }
  rotateSecret(merchantId: string, secret: string, now: number, overlapUntil: number): Promise<boolean> {
    return this.call('rotateSecret', merchantId, secret, now, overlapUntil);
  }
  getDeliveryTarget(merchantId: string, now: number): Promise<DeliveryTarget | undefined> {
    return this.call('getDeliveryTarget', merchantId, now);
  }
  findApiKey(hash: string): Promise<{ id: string; merchantId: string | null } | undefined> {
    return this.call('findApiKey', hash);
  }
  createApiKey(key: NewApiKey, now: number): Promise<ApiKeyRecord> {
    return this.call('createApiKey', key, now);
  }
  listApiKeys(merchantId?: string | null): Promise<ApiKeyRecord[]> {
    return this.call('listApiKeys', merchantId);
  }
  revokeApiKey(id: string, now: number): Promise<ApiKeyRecord | undefined> {
    return this.call('revokeApiKey', id, now);
  }
  appendAudit(entry: NewAuditEntry): Promise<void> {
    return this.call('appendAudit', entry);
  }
  listAudit(after: number | undefined, limit: number): Promise<AuditEntry[]> {
    return this.call('listAudit', after, limit);
  }

  /**
   * The claimer's decisions cannot run on the SQLite thread, so they are made here first, op by
   * op, as a budget per merchant for the new transactions of the batch; a merchant asked and
   * refused gets a budget of 0. A status change's merchant is known for sure only on the thread
   * (the admin may name none and let the store resolve the id): those may take up to
   * `claimer.unasked` rows of merchants the batch did not ask about (see `IngestClaimer.unasked`).
   * Slots a budget reserves and the commit does not use are given back by the claimer's owner.
   */
  async ingest(ops: readonly IngestOp[], now: number, claimer?: IngestClaimer): Promise<IngestResult[]> {
    let wire: WireClaimer | undefined;
    if (claimer !== undefined) {
      const budget: Record<string, number> = {};
      let statusOps = 0;
      for (const op of ops) {
        if (op.kind === 'create') {
          const m = op.tx.merchantId;
          budget[m] = (budget[m] ?? 0) + (claimer.take(m) ? 1 : 0);
        } else {
          statusOps++;
        }
      }
      wire = { leaseMs: claimer.leaseMs, budget, unasked: Math.min(statusOps, claimer.unasked ?? 0) };
    }
    return fromWireResults(await this.call('ingest', ops, now, wire));
  }

  getTransaction(merchantId: string, id: string): Promise<Transaction | undefined> {
    return this.call('getTransaction', merchantId, id);
  }
  findTransactionsById(id: string, limit: number): Promise<Transaction[]> {
    return this.call('findTransactionsById', id, limit);
  }
  findTransactionsByReference(merchantId: string | undefined, reference: string, limit: number): Promise<Transaction[]> {
    return this.call('findTransactionsByReference', merchantId, reference, limit);
  }
  listTransactionConfirmations(merchantId: string, transactionId: string): Promise<Confirmation[]> {
    return this.call('listTransactionConfirmations', merchantId, transactionId);
  }
  getConfirmation(id: string): Promise<Confirmation | undefined> {
    return this.call('getConfirmation', id);
  }
  listConfirmations(q: ConfirmationQuery): Promise<Confirmation[]> {
    return this.call('listConfirmations', q);
  }
  listAttempts(confirmationId: string): Promise<Attempt[]> {
    return this.call('listAttempts', confirmationId);
  }
  redeliver(id: string, now: number): Promise<'queued' | 'in_flight' | 'not_found'> {
    return this.call('redeliver', id, now);
  }
  replayDead(merchantId: string, now: number): Promise<number> {
    return this.call('replayDead', merchantId, now);
  }
  claimDue(opts: ClaimOptions): Promise<Claim[]> {
    return this.call('claimDue', opts);
  }
  claimForMerchants(wants: readonly ClaimWant[], now: number, leaseMs: number): Promise<Claim[]> {
    return this.call('claimForMerchants', wants, now, leaseMs);
  }
  recordOutcomes(records: readonly OutcomeRecord[], now: number): Promise<OutcomesRecorded> {
    return this.call(
      'recordOutcomes',
      records.map((r) => ({ ...r, claim: withoutBody(r.claim) })),
      now,
    );
  }
  releaseClaims(claims: readonly Claim[], now: number): Promise<void> {
    return this.call('releaseClaims', claims.map(withoutBody), now);
  }
  nextDueAt(): Promise<number | null> {
    return this.call('nextDueAt');
  }
  countByState(): Promise<Record<ConfirmationState, number>> {
    return this.call('countByState');
  }
  countOpen(): Promise<Record<OpenState, number>> {
    return this.call('countOpen');
  }
  async subscribeDue(): Promise<() => Promise<void>> {
    // One process owns the file: its own commits wake its dispatcher, so there is nobody to hear.
    return async () => undefined;
  }
  purgeHistory(before: number, limit: number): Promise<number> {
    return this.call('purgeHistory', before, limit);
  }
  listStoredCredentials(): Promise<StoredCredential[]> {
    return this.call('listStoredCredentials');
  }
  replaceStoredCredential(c: StoredCredential, next: string): Promise<boolean> {
    return this.call('replaceStoredCredential', c, next);
  }
  purgeTransactions(before: number, limit: number, after?: PurgeCursor): Promise<PurgeBatch> {
    return this.call('purgeTransactions', before, limit, after);
  }
  purgeIdempotencyKeys(before: number, limit: number): Promise<number> {
    return this.call('purgeIdempotencyKeys', before, limit);
  }
}

/** A claim handed back to the store: it is found by id and token, so its body need not be copied across. */
function withoutBody(claim: Claim): Claim {
  return { ...claim, body: '' };
}
