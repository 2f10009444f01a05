import type { ApiKeyRecord } from '../domain/api-key.js';
import type { AuditAction, AuditEntry } from '../domain/audit.js';
import type { Attempt, Claim, Confirmation, ConfirmationState } from '../domain/confirmation.js';
import { newId } from '../domain/ids.js';
import type { Format, Merchant, MerchantPatch, NewMerchant } from '../domain/merchant.js';
import { confirmationBody } from '../domain/payload.js';
import { confirmationType, type Status } from '../domain/status.js';
import type { Customer, NewTransaction, Transaction } from '../domain/transaction.js';
import { ConfirmaError } from '../errors.js';
import {
  blocksOrder,
  OPEN_STATES,
  ORDER_BLOCKING_STATES,
  PROMOTION_BLOCKING_STATES,
  QUEUE_STATES,
} from '../domain/confirmation.js';
import type { Outcome } from '../dispatch/outcome.js';
import type { ClaimOptions, IngestClaimer, IngestResult, PurgeCursor, Scope, StoredCredential } from './store.js';

/** A column value as the drivers give it: text, numbers, NULL, or (PostgreSQL) an array of text. */
export type Cell = string | number | bigint | boolean | null | readonly string[];

/**
 * Row mapping shared by both adapters: the SQL dialects differ, the columns and their meaning do
 * not. A row is what the driver returns; times are epoch milliseconds.
 */
export type Row = Record<string, Cell>;

export function visible(scope: Scope, merchantId: string): boolean {
  return scope.kind === 'admin' || scope.merchantId === merchantId;
}

export function sameContent(a: Transaction, b: NewTransaction): boolean {
  return (
    a.merchantId === b.merchantId &&
    a.reference === b.reference &&
    a.amount === b.amount &&
    a.currency === b.currency &&
    a.status === b.status &&
    JSON.stringify(a.customer) === JSON.stringify(b.customer) &&
    JSON.stringify(a.metadata) === JSON.stringify(b.metadata)
  );
}

export function nullableNumber(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

export function nullableString(v: Cell | undefined): string | null {
  return v === null || v === undefined ? null : String(v);
}

/** A merchant's settings as the columns of `merchants` that hold them (`toMerchant` reads them back). */
export interface SettingsColumns {
  readonly name: string;
  readonly url: string;
  readonly format: Format;
  readonly max_in_flight: number | null;
  readonly timeout_ms: number | null;
  /** JSON array of seconds, or null for the global schedule. */
  readonly retry_schedule: string | null;
  readonly epayco_cust_id: string | null;
  readonly epayco_p_key_sealed: string | null;
}

export function settingsColumns(m: Omit<NewMerchant, 'id'>): SettingsColumns {
  return {
    name: m.name,
    url: m.url,
    format: m.format,
    max_in_flight: m.maxInFlight,
    timeout_ms: m.timeoutMs,
    retry_schedule: m.retrySchedule === null ? null : JSON.stringify(m.retrySchedule),
    epayco_cust_id: m.epayco?.custId ?? null,
    epayco_p_key_sealed: m.epayco?.sealedPKey ?? null,
  };
}

/** A merchant after a patch: every column an update writes (but `updated_at`), and what its queue needs. */
export interface PatchedMerchant {
  readonly columns: SettingsColumns & { readonly disabled_at: number | null; readonly disabled_reason: string | null };
  /**
   * `park`: the patch disabled the merchant, its pending confirmations are parked; `unpark`: it
   * enabled it, its parked confirmations are due now; undefined: neither changed.
   */
  readonly queue: 'park' | 'unpark' | undefined;
}

/**
 * A PATCH applied to the merchant as stored: a field left out keeps its value; null clears one
 * that may be null (back to the global default; for `epayco`, removes the credentials, as a
 * switch to `standard` does). `enabled: false` keeps the time and reason of an earlier disabling
 * (a 410's, say); `enabled: true` clears both.
 */
export function patchMerchant(cur: Merchant, patch: MerchantPatch, now: number): PatchedMerchant {
  const disabledAt = patch.enabled === undefined ? cur.disabledAt : patch.enabled ? null : (cur.disabledAt ?? now);
  const disabledReason =
    patch.enabled === undefined ? cur.disabledReason : patch.enabled ? null : (cur.disabledReason ?? 'disabled by admin');
  const settings = settingsColumns({
    name: patch.name ?? cur.name,
    url: patch.url ?? cur.url,
    format: patch.format ?? cur.format,
    maxInFlight: patch.maxInFlight === undefined ? cur.maxInFlight : patch.maxInFlight,
    timeoutMs: patch.timeoutMs === undefined ? cur.timeoutMs : patch.timeoutMs,
    retrySchedule: patch.retrySchedule === undefined ? cur.retrySchedule : patch.retrySchedule,
    epayco: patch.epayco === undefined ? cur.epayco : patch.epayco,
  });
  const queue =
    cur.disabledAt !== null && disabledAt === null
      ? 'unpark'
      : cur.disabledAt === null && disabledAt !== null
        ? 'park'
        : undefined;
  return { columns: { ...settings, disabled_at: disabledAt, disabled_reason: disabledReason }, queue };
}

export function toMerchant(r: Row): Merchant {
  return {
    id: String(r.id),
    name: String(r.name),
    url: String(r.url),
    format: String(r.format) as Format,
    maxInFlight: nullableNumber(r.max_in_flight),
    timeoutMs: nullableNumber(r.timeout_ms),
    retrySchedule: r.retry_schedule === null ? null : (JSON.parse(String(r.retry_schedule)) as number[]),
    epayco:
      r.epayco_cust_id === null || r.epayco_p_key_sealed === null
        ? null
        : { custId: String(r.epayco_cust_id), sealedPKey: String(r.epayco_p_key_sealed) },
    disabledAt: nullableNumber(r.disabled_at),
    disabledReason: nullableString(r.disabled_reason),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export function toApiKey(r: Row): ApiKeyRecord {
  return {
    id: String(r.id),
    merchantId: nullableString(r.merchant_id),
    prefix: String(r.prefix),
    name: nullableString(r.name),
    createdAt: Number(r.created_at),
    revokedAt: nullableNumber(r.revoked_at),
  };
}

export function toTransaction(r: Row): Transaction {
  return {
    id: String(r.id),
    merchantId: String(r.merchant_id),
    reference: String(r.reference),
    amount: String(r.amount),
    currency: String(r.currency),
    status: String(r.status) as Status,
    customer: r.customer === null ? null : (JSON.parse(String(r.customer)) as Customer),
    metadata: r.metadata === null ? null : (JSON.parse(String(r.metadata)) as Record<string, unknown>),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export function toConfirmation(r: Row): Confirmation {
  return {
    id: String(r.id),
    transactionId: String(r.transaction_id),
    merchantId: String(r.merchant_id),
    seq: Number(r.seq),
    type: String(r.type),
    state: String(r.state) as ConfirmationState,
    attempts: Number(r.attempts),
    dueAt: nullableNumber(r.due_at),
    deliveredAt: nullableNumber(r.delivered_at),
    lastError: nullableString(r.last_error),
    createdAt: Number(r.created_at),
  };
}

/** A claimed row as a claim: its columns, its body (read with it, or apart), its new lease token. */
export function toClaim(r: Row, body: string, token: number): Claim {
  return {
    id: String(r.id),
    merchantId: String(r.merchant_id),
    transactionId: String(r.transaction_id),
    seq: Number(r.seq),
    body,
    format: String(r.format) as Format,
    tries: Number(r.tries),
    token,
  };
}

export function toAttempt(r: Row): Attempt {
  return {
    confirmationId: String(r.confirmation_id),
    number: Number(r.number),
    startedAt: Number(r.started_at),
    durationMs: Number(r.duration_ms),
    statusCode: nullableNumber(r.status_code),
    errorKind: nullableString(r.error_kind),
    errorMessage: nullableString(r.error_message),
    responseSnippet: nullableString(r.response_snippet),
    outcome: String(r.outcome),
  };
}

export function toAuditEntry(r: Row): AuditEntry {
  return {
    id: Number(r.id),
    at: Number(r.at),
    actor: String(r.actor),
    action: String(r.action) as AuditAction,
    target: String(r.target),
    details: r.details === null ? null : (JSON.parse(String(r.details)) as Record<string, unknown>),
  };
}

/** The columns of a new confirmation, ready to insert. */
export interface NewConfirmationRow {
  readonly id: string;
  readonly transaction_id: string;
  readonly merchant_id: string;
  readonly seq: number;
  readonly type: string;
  readonly state: ConfirmationState;
  readonly body: string;
  readonly format: Format;
  readonly due_at: number | null;
  readonly lease_token: number;
}

/**
 * A new confirmation: its id (the webhook-id) and its body built once, in the merchant's format.
 * When it is due at once and `claimer` takes it, it is written `inflight` under a lease with token 1
 * and comes back as a claim too, so this node sends it without a claim transaction.
 */
export function newConfirmationRow(
  tx: Transaction,
  seq: number,
  state: ConfirmationState,
  format: Format,
  now: number,
  claimer?: IngestClaimer,
): { row: NewConfirmationRow; claim: Claim | undefined } {
  const id = newId('msg');
  const type = confirmationType(tx.status);
  const body = confirmationBody(format, id, seq, type, tx, now);
  const taken = state === 'pending' && claimer !== undefined && claimer.take(tx.merchantId);
  const row: NewConfirmationRow = {
    id,
    transaction_id: tx.id,
    merchant_id: tx.merchantId,
    seq,
    type,
    state: taken ? 'inflight' : state,
    body,
    format,
    due_at: taken ? now + claimer.leaseMs : state === 'pending' ? now : null,
    lease_token: taken ? 1 : 0,
  };
  const claim: Claim | undefined = taken
    ? { id, merchantId: tx.merchantId, transactionId: tx.id, seq, body, format, tries: 0, token: 1 }
    : undefined;
  return { row, claim };
}

/** The state an outcome leaves its confirmation in (a retry's may still be parked, see the stores). */
export function outcomeState(kind: Outcome['kind']): ConfirmationState {
  switch (kind) {
    case 'delivered':
      return 'delivered';
    case 'retry':
      return 'pending';
    case 'dead':
      return 'dead';
    case 'disable':
      return 'parked';
  }
}

/**
 * Whether an outcome ends its confirmation's hold on the transaction's order (delivered or dead:
 * its new state is not in `ORDER_BLOCKING_STATES`), so the next waiting one may be promoted.
 */
export function releasesOrder(kind: Outcome['kind']): boolean {
  return !blocksOrder(outcomeState(kind));
}

/** The columns an outcome writes to its confirmation; `attempts` is counted up by the statement. */
export interface OutcomeColumns {
  readonly state: ConfirmationState;
  /** When the retry is due; null otherwise. */
  readonly due_at: number | null;
  /** Failed attempts since it was last queued: 0 once delivered. */
  readonly tries: number;
  readonly last_error: string | null;
  /** `now` when delivered; null keeps what the row holds. */
  readonly delivered_at: number | null;
}

export function outcomeColumns(claim: Claim, outcome: Outcome, now: number): OutcomeColumns {
  switch (outcome.kind) {
    case 'delivered':
      return { state: 'delivered', due_at: null, tries: 0, last_error: null, delivered_at: now };
    case 'retry':
      return { state: 'pending', due_at: outcome.at, tries: claim.tries + 1, last_error: outcome.reason, delivered_at: null };
    case 'dead':
    case 'disable':
      return {
        state: outcomeState(outcome.kind),
        due_at: null,
        tries: claim.tries + 1,
        last_error: outcome.reason,
        delivered_at: null,
      };
  }
}

/**
 * The candidate rows a claim takes, in the order given (oldest due first): at most each
 * merchant's free slots, `capacity` or `defaultCapacity` for a merchant not in it.
 */
export function withinCapacity(rows: readonly Row[], opts: Pick<ClaimOptions, 'capacity' | 'defaultCapacity'>): Row[] {
  const free = new Map<string, number>();
  const taken: Row[] = [];
  for (const r of rows) {
    const merchantId = String(r.merchant_id);
    const left = free.get(merchantId) ?? opts.capacity.get(merchantId) ?? opts.defaultCapacity;
    if (left <= 0) continue;
    free.set(merchantId, left - 1);
    taken.push(r);
  }
  return taken;
}

/**
 * The answer to a create that reuses an Idempotency-Key: the first answer again when the request is
 * the same, `idempotency_conflict` when it is not.
 */
export function replayIdempotent(prior: Row, requestHash: string): IngestResult {
  if (prior.request_hash !== requestHash) throw new ConfirmaError('idempotency_conflict');
  return {
    ok: true,
    httpStatus: Number(prior.http_status) as 200 | 201,
    transaction: JSON.parse(String(prior.response)) as Transaction,
  };
}

/** Stored credentials from rows of `merchant_secrets` (id, merchant_id, secret) and `merchants` (id, epayco_p_key_sealed). */
export function storedCredentials(secrets: readonly Row[], pKeys: readonly Row[]): StoredCredential[] {
  return [
    ...secrets.map((r): StoredCredential => ({
      kind: 'signing_secret',
      ref: String(r.id),
      merchantId: String(r.merchant_id),
      stored: String(r.secret),
    })),
    ...pKeys.map((r): StoredCredential => ({
      kind: 'epayco_p_key',
      ref: String(r.id),
      merchantId: String(r.id),
      stored: String(r.epayco_p_key_sealed),
    })),
  ];
}

/** States as an SQL list (`'waiting', 'pending'`), written into statements so a planner can match partial indexes. */
function sqlList(states: readonly ConfirmationState[]): string {
  return states.map((s) => `'${s}'`).join(', ');
}

/** `OPEN_STATES` as an SQL list. */
export const OPEN_STATES_SQL = sqlList(OPEN_STATES);
/** `QUEUE_STATES` as an SQL list: the predicate of the queue's partial index. */
export const QUEUE_STATES_SQL = sqlList(QUEUE_STATES);
/** `ORDER_BLOCKING_STATES` as an SQL list: "does this transaction still have a confirmation open?" at ingest. */
export const ORDER_BLOCKING_STATES_SQL = sqlList(ORDER_BLOCKING_STATES);
/** `PROMOTION_BLOCKING_STATES` as an SQL list: "may the transaction's next waiting confirmation be promoted?". */
export const PROMOTION_BLOCKING_STATES_SQL = sqlList(PROMOTION_BLOCKING_STATES);

/**
 * The state of a new confirmation: `waiting` behind an open one of the same transaction
 * (`ORDER_BLOCKING_STATES`), else `parked` while the merchant is disabled, else `pending` (due now).
 */
export function newConfirmationState(orderBlocked: boolean, merchantDisabled: boolean): ConfirmationState {
  return orderBlocked ? 'waiting' : merchantDisabled ? 'parked' : 'pending';
}

/**
 * Where a retention scan of transactions resumes: after the last row of a full batch, none after a
 * short one. Scans go by (created_at, id, merchant_id): two merchants' transactions may share an id.
 */
export function nextPurgeCursor(rows: readonly Row[], limit: number): PurgeCursor | undefined {
  const last = rows[rows.length - 1];
  return rows.length < limit || last === undefined
    ? undefined
    : { createdAt: Number(last.created_at), id: String(last.id), merchantId: String(last.merchant_id) };
}
