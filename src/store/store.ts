import type { ApiKeyRecord, NewApiKey } from '../domain/api-key.js';
import type { AuditEntry, NewAuditEntry } from '../domain/audit.js';
import type { Attempt, Claim, Confirmation, ConfirmationState, OpenState } from '../domain/confirmation.js';
import type { DeliveryTarget, Merchant, MerchantPatch, NewMerchant } from '../domain/merchant.js';
import type { Status } from '../domain/status.js';
import type { NewTransaction, Transaction } from '../domain/transaction.js';
import type { AttemptResult, Outcome } from '../dispatch/outcome.js';
import type { ConfirmaError } from '../errors.js';

/** Who is asking: the admin sees every merchant; a merchant key sees only its own merchant. */
export type Scope = { readonly kind: 'admin' } | { readonly kind: 'merchant'; readonly merchantId: string };

/** An idempotency claim attached to a create: same scope+key and same hash returns the first answer. */
export interface IdempotencyClaim {
  readonly scope: string;
  readonly key: string;
  /** SHA-256 of the canonical request body. */
  readonly requestHash: string;
}

/** One write submitted to the group-commit batcher. Each op succeeds or fails on its own (see `Store.ingest`). */
export type IngestOp =
  | {
      readonly kind: 'create';
      readonly scope: Scope;
      readonly tx: NewTransaction;
      readonly idempotency?: IdempotencyClaim;
    }
  | {
      readonly kind: 'status';
      readonly scope: Scope;
      readonly transactionId: string;
      /**
       * Whose transaction: ids are unique per merchant only. A merchant key's op names its own (or
       * nothing, meaning its own); the admin's names the merchant, or nothing, and then the store
       * looks the id up across merchants in the same commit: one match is the one, several are
       * refused with `ambiguous_transaction_id` (see `transaction-key.ts`).
       */
      readonly merchantId?: string;
      readonly status: Status;
    };

/** The answer to one op: the stored transaction (201 new, 200 replayed) or a catalog error. */
export type IngestResult =
  | {
      readonly ok: true;
      readonly httpStatus: 200 | 201;
      readonly transaction: Transaction;
      /** The op's new confirmation, claimed in the same commit for this node's dispatcher (see `IngestClaimer`). */
      readonly claim?: Claim;
    }
  | { readonly ok: false; readonly error: ConfirmaError };

/**
 * Lets an ingest commit hand the confirmations it makes due straight to the node's own dispatcher:
 * such a row is written `inflight` under a lease with token 1 instead of `pending`, so delivery
 * starts without a claim transaction. Whatever the node does not take stays `pending` for the
 * usual claims; a taken row whose node dies is claimed again when its lease lapses.
 */
export interface IngestClaimer {
  readonly leaseMs: number;
  /** Whether the node takes a new due confirmation of this merchant now (it counts it if so). */
  take(merchantId: string): boolean;
  /**
   * How many rows the commit may take without asking `take` (0 or absent: none). For a store that
   * cannot ask while its commit runs (on another thread) about an op whose merchant it learns only
   * there: a status change may name just its transaction id. The claimer's owner sends each such row if
   * its merchant has room when the commit is back, and gives it back otherwise.
   */
  readonly unasked?: number;
}

/** An attempt's result and the outcome decided for it, to be written back under the claim's token. */
export interface OutcomeRecord {
  readonly claim: Claim;
  readonly outcome: Outcome;
  readonly attempt: AttemptResult;
}

/** Filter and cursor for listing confirmations. */
export interface ConfirmationQuery {
  readonly merchantId?: string;
  readonly state?: ConfirmationState;
  /** Return confirmations with id strictly after this cursor (ids sort by creation). */
  readonly after?: string;
  readonly limit: number;
}

/** Options for one claim. */
export interface ClaimOptions {
  readonly now: number;
  /** Most rows to claim in this call. */
  readonly limit: number;
  readonly leaseMs: number;
  /** Merchants not to claim for (lane full, circuit open). */
  readonly exclude: readonly string[];
  /**
   * Free in-flight slots per merchant; rows past them are left unclaimed. Merchants not in the map
   * have `defaultCapacity` (plain data, so a claim can be sent to another thread).
   */
  readonly capacity: ReadonlyMap<string, number>;
  readonly defaultCapacity: number;
}

/** What a lane asks `claimForMerchants` for. */
export interface ClaimWant {
  readonly merchantId: string;
  /** Most rows to claim for this merchant. */
  readonly limit: number;
  /**
   * First attempts (`tries` 0) before retries, oldest due first within each, among the merchant's
   * `FIRST_ATTEMPT_LOOKAHEAD` oldest due rows; without it, oldest due first. For the probe of an
   * open circuit: a fresh confirmation tells whether the endpoint is back, while a retry may be
   * one of the payloads it refuses (an unhandled case in its handler) whatever its health.
   */
  readonly preferFirstAttempts?: boolean;
}

/**
 * How many of a merchant's oldest due rows a `preferFirstAttempts` claim looks through for a first
 * attempt. A merchant that is down can have a deep backlog of due retries; the probe's cost stays
 * bounded by this, not by the backlog (a first attempt further back is not found: a retry goes).
 */
export const FIRST_ATTEMPT_LOOKAHEAD = 1_000;

/** What `recordOutcomes` did: outcomes written, outcomes refused (their lease had lapsed), and the merchants whose next confirmation of a transaction became due. */
export interface OutcomesRecorded {
  readonly recorded: number;
  readonly stale: number;
  readonly promoted: readonly string[];
}

/**
 * The storage seam. Every adapter (SQLite, PostgreSQL) passes the same contract suite.
 * All methods are async so both a synchronous embedded driver and a networked one fit.
 */
export interface Store {
  /** Adapter name, for logs and health (`sqlite` | `postgres`). */
  readonly dialect: string;
  /** Applies numbered migrations not yet applied; returns the names applied now. */
  migrate(): Promise<string[]>;
  /** Cheap check that the database answers. */
  ping(): Promise<void>;
  close(): Promise<void>;

  // --- merchants and keys ---
  /** Creates a merchant with its first signing secret and its merchant API key (stored as a hash). */
  createMerchant(m: NewMerchant, secret: string, apiKey: { id: string; hash: string; prefix: string }): Promise<Merchant>;
  getMerchant(id: string): Promise<Merchant | undefined>;
  listMerchants(after: string | undefined, limit: number): Promise<Merchant[]>;
  /** Applies a patch; enabling a disabled merchant unparks its confirmations. Undefined if absent. */
  updateMerchant(id: string, patch: MerchantPatch, now: number): Promise<Merchant | undefined>;
  /** Makes `secret` the current signing secret; older ones keep signing until `overlapUntil`. */
  rotateSecret(merchantId: string, secret: string, now: number, overlapUntil: number): Promise<boolean>;
  /**
   * Every stored merchant credential as it is at rest (sealed or not): all signing secrets, expired
   * ones included, and each ePayco `pKey`. For re-sealing under a new master key; never for an API.
   */
  listStoredCredentials(): Promise<StoredCredential[]>;
  /**
   * Replaces one stored credential with `next`, only if it still holds `c.stored` (so a rotation
   * or a PATCH that happened meanwhile is not overwritten). Returns whether it did.
   */
  replaceStoredCredential(c: StoredCredential, next: string): Promise<boolean>;
  /** Merchant and its signing secrets still valid at `now`, for the dispatcher. */
  getDeliveryTarget(merchantId: string, now: number): Promise<DeliveryTarget | undefined>;
  /** The merchant id a live (not revoked) API key hash belongs to, or undefined. */
  findApiKey(hash: string): Promise<{ id: string; merchantId: string | null } | undefined>;

  /** Stores a new API key (its hash only). */
  createApiKey(key: NewApiKey, now: number): Promise<ApiKeyRecord>;
  /** Keys in creation order, revoked ones included; `merchantId` filters (null = admin keys only). */
  listApiKeys(merchantId?: string | null): Promise<ApiKeyRecord[]>;
  /** Revokes a key at once; undefined if there is no such key. Revoking twice keeps the first time. */
  revokeApiKey(id: string, now: number): Promise<ApiKeyRecord | undefined>;

  // --- audit ---
  appendAudit(entry: NewAuditEntry): Promise<void>;
  /** Entries with id greater than `after`, oldest first. */
  listAudit(after: number | undefined, limit: number): Promise<AuditEntry[]>;

  // --- ingest ---
  /**
   * Runs every op in ONE database transaction (one fsync). Each op succeeds or fails on its own, as
   * if in its own savepoint: a refused op leaves no trace and the others go ahead (SQLite checks
   * every rule of an op before its first write; PostgreSQL checks each op in memory against rows it
   * locked, then writes the batch set-based). Ops see the effects of the ops before them in the
   * same batch. With a `claimer`, new due confirmations it takes come back as claims.
   */
  ingest(ops: readonly IngestOp[], now: number, claimer?: IngestClaimer): Promise<IngestResult[]>;

  // --- reads ---
  /** One merchant's transaction by its id (ids are unique per merchant, not across merchants). */
  getTransaction(merchantId: string, id: string): Promise<Transaction | undefined>;
  /**
   * The transactions of every merchant that carry this id, by merchant id, at most `limit`: for the
   * admin naming a transaction by its id alone (two are enough to tell it is ambiguous).
   */
  findTransactionsById(id: string, limit: number): Promise<Transaction[]>;
  /**
   * Transactions carrying the merchant's own `reference` (not unique: a merchant may reuse one),
   * newest first, at most `limit`. `merchantId` undefined searches every merchant (admin only).
   * Reconciliation for merchants whose endpoint was down (`GET /v1/transactions?reference=`).
   */
  findTransactionsByReference(merchantId: string | undefined, reference: string, limit: number): Promise<Transaction[]>;
  /** A merchant's transaction's confirmations in seq order. */
  listTransactionConfirmations(merchantId: string, transactionId: string): Promise<Confirmation[]>;
  getConfirmation(id: string): Promise<Confirmation | undefined>;
  listConfirmations(q: ConfirmationQuery): Promise<Confirmation[]>;
  listAttempts(confirmationId: string): Promise<Attempt[]>;

  // --- dead letters ---
  /**
   * Puts one delivered or dead confirmation back on the queue (due now); `in_flight` while an
   * attempt holds it. A manual action outside the order promise: if a later confirmation of the
   * same transaction is open, the two may arrive in either order.
   */
  redeliver(id: string, now: number): Promise<'queued' | 'in_flight' | 'not_found'>;
  /** Re-queues every dead confirmation of a merchant; returns how many. */
  replayDead(merchantId: string, now: number): Promise<number>;

  // --- dispatch ---
  /**
   * Claims due confirmations of any merchant not excluded, oldest due first, under a lease:
   * state inflight, token incremented. Scans the queue index, so the dispatcher uses it to
   * discover work (start-up, polls), not on every finished attempt.
   */
  claimDue(opts: ClaimOptions): Promise<Claim[]>;
  /**
   * Claims up to `limit` due pending confirmations for each named merchant, in one transaction,
   * through the per-merchant index: oldest due first, or first attempts first for a want with
   * `preferFirstAttempts`. Pending rows only: on both stores the per-merchant index holds no
   * `inflight` rows (SQLite since its migration 0005, PostgreSQL since its 0006), so a lease that
   * lapsed is taken back by `claimDue` alone, on the dispatcher's next scan of the queue.
   */
  claimForMerchants(wants: readonly ClaimWant[], now: number, leaseMs: number): Promise<Claim[]>;
  /**
   * Writes outcomes and attempt rows in one transaction, each only if its row still carries the
   * claim's token; returns how many were written, how many were stale (the token moved on) and the
   * merchants whose next confirmation of a transaction became due.
   */
  recordOutcomes(records: readonly OutcomeRecord[], now: number): Promise<OutcomesRecorded>;
  /**
   * Gives claims back unsent (shutdown, or an attempt that could not go out): due now again, or
   * parked if the merchant is disabled, unless their token moved on.
   */
  releaseClaims(claims: readonly Claim[], now: number): Promise<void>;
  /** Earliest due time among pending/inflight rows, or null when the queue is empty. */
  nextDueAt(): Promise<number | null>;
  /**
   * Counts per state, delivered history included: a scan of every confirmation retention keeps
   * (~1.2 billion at 2,000/s for 7 days), for tests and tools, never on a request path.
   */
  countByState(): Promise<Record<ConfirmationState, number>>;
  /**
   * Counts of the open states only (all but `delivered`), for /metrics: read through indexes that
   * reach just those rows, so it costs what is open (a backlog), not the history.
   */
  countOpen(): Promise<Record<OpenState, number>>;

  // --- multi-node and retention ---
  /**
   * Calls `listener` when another node commits confirmations: with the merchant ids written for,
   * or undefined meaning "scan the whole queue" (too many ids, or notifications may have been
   * missed while reconnecting). Resolves with an unsubscribe. A single-process store (SQLite)
   * never calls it: its own commits wake the dispatcher in-process.
   */
  subscribeDue(listener: (merchantIds: string[] | undefined) => void): Promise<() => Promise<void>>;
  /**
   * Retention: removes up to `limit` delivered confirmations created before `before` (epoch ms),
   * with their attempts, in one short transaction; returns how many confirmations it removed.
   * Rows in any other state (waiting, pending, inflight, parked, dead) are never removed.
   * Call again until it returns less than `limit`.
   */
  purgeHistory(before: number, limit: number): Promise<number>;
  /**
   * Retention of transactions: looks at up to `limit` transactions created before `before`, in
   * creation order after `after` (the previous call's `next`), and removes those also last changed
   * before `before` that have no confirmation left (retention removed them, or none was made), in
   * one short transaction. A transaction with any confirmation (open, dead or delivered and still
   * kept) stays. `next` is undefined once the scan reached the cut-off.
   */
  purgeTransactions(before: number, limit: number, after?: PurgeCursor): Promise<PurgeBatch>;
  /** Removes up to `limit` idempotency keys created before `before`; returns how many. */
  purgeIdempotencyKeys(before: number, limit: number): Promise<number>;
}

/** The names of the `Store` methods (every member but `dialect`). */
export type StoreMethod = Exclude<keyof Store, 'dialect'>;

/** Every `Store` method, checked by the compiler against the interface: for adapters that treat them all alike. */
export const STORE_METHODS = Object.keys({
  migrate: true,
  ping: true,
  close: true,
  createMerchant: true,
  getMerchant: true,
  listMerchants: true,
  updateMerchant: true,
  rotateSecret: true,
  listStoredCredentials: true,
  replaceStoredCredential: true,
  getDeliveryTarget: true,
  findApiKey: true,
  createApiKey: true,
  listApiKeys: true,
  revokeApiKey: true,
  appendAudit: true,
  listAudit: true,
  ingest: true,
  getTransaction: true,
  findTransactionsByReference: true,
  findTransactionsById: true,
  listTransactionConfirmations: true,
  getConfirmation: true,
  listConfirmations: true,
  listAttempts: true,
  redeliver: true,
  replayDead: true,
  claimDue: true,
  claimForMerchants: true,
  recordOutcomes: true,
  releaseClaims: true,
  nextDueAt: true,
  countByState: true,
  countOpen: true,
  subscribeDue: true,
  purgeHistory: true,
  purgeTransactions: true,
  purgeIdempotencyKeys: true,
} satisfies Record<StoreMethod, true>) as StoreMethod[];

/** A merchant credential at rest: a signing secret (by its row) or a merchant's ePayco `pKey`. */
export interface StoredCredential {
  readonly kind: 'signing_secret' | 'epayco_p_key';
  /** The secret's row id, or the merchant id for a `pKey`. */
  readonly ref: string;
  readonly merchantId: string;
  /** As stored: `whsec_…` (not sealed) or a sealed value. */
  readonly stored: string;
}

/** Where a retention scan of transactions stopped: the last transaction it looked at. */
export interface PurgeCursor {
  readonly createdAt: number;
  readonly id: string;
  readonly merchantId: string;
}

export interface PurgeBatch {
  readonly removed: number;
  readonly next: PurgeCursor | undefined;
}
