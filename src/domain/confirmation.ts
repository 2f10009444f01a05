import type { Format } from './merchant.js';

/**
 * Confirmation states. Only `pending` and `inflight` rows are on the queue path (the queue's
 * partial index covers exactly those; the per-merchant one, `pending` alone), so delivered history
 * never slows claims.
 *
 *   waiting   an earlier confirmation of the same transaction is still open (per-transaction order)
 *   pending   due at `dueAt`
 *   inflight  claimed under a lease until `dueAt`, fenced by `leaseToken`
 *   delivered the merchant answered 2xx
 *   dead      the retry schedule ran out (dead-letter); replay puts it back to pending
 *   parked    the merchant's endpoint is disabled (410 or by an admin); re-enabling unparks it
 */
export const CONFIRMATION_STATES = ['waiting', 'pending', 'inflight', 'delivered', 'dead', 'parked'] as const;
export type ConfirmationState = (typeof CONFIRMATION_STATES)[number];

/** The states a confirmation can still leave: everything but `delivered`, the history retention keeps. */
export const OPEN_STATES = ['waiting', 'pending', 'inflight', 'parked', 'dead'] as const satisfies readonly ConfirmationState[];
export type OpenState = (typeof OPEN_STATES)[number];

/**
 * The queue: the states a claim takes rows from (`pending` when due, `inflight` once its lease
 * lapsed). The queue's partial index is written with exactly these (see the migrations).
 */
export const QUEUE_STATES = ['pending', 'inflight'] as const satisfies readonly ConfirmationState[];

/**
 * Per-transaction order, at ingest: a new confirmation of a transaction is written `waiting` while
 * one of the transaction's confirmations is in one of these states, that is, not yet delivered or
 * dead, or itself waiting in line.
 */
export const ORDER_BLOCKING_STATES = ['waiting', 'pending', 'inflight', 'parked'] as const satisfies readonly ConfirmationState[];
const ORDER_BLOCKING: ReadonlySet<ConfirmationState> = new Set(ORDER_BLOCKING_STATES);

/** Whether a confirmation in `state` holds back the later ones of its transaction (`ORDER_BLOCKING_STATES`). */
export function blocksOrder(state: ConfirmationState): boolean {
  return ORDER_BLOCKING.has(state);
}

/**
 * Per-transaction order, when a confirmation is delivered or dead: the transaction's first
 * `waiting` confirmation is promoted only while none of its confirmations is in one of these
 * states. `waiting` is not one of them: the waiting ones are the line, and its head is the one
 * promoted.
 */
export const PROMOTION_BLOCKING_STATES = ['pending', 'inflight', 'parked'] as const satisfies readonly ConfirmationState[];

/** A confirmation as the API shows it. */
export interface Confirmation {
  /** Also the `webhook-id` header: identical on every attempt. */
  readonly id: string;
  readonly transactionId: string;
  readonly merchantId: string;
  /** 1 for the transaction's first confirmation, then one more per status change. */
  readonly seq: number;
  /** `transaction.<status>` */
  readonly type: string;
  readonly state: ConfirmationState;
  /** Attempts made in all. */
  readonly attempts: number;
  /** When the next attempt is due (pending) or the lease lapses (inflight); null otherwise. */
  readonly dueAt: number | null;
  readonly deliveredAt: number | null;
  readonly lastError: string | null;
  readonly createdAt: number;
}

/** One attempt, as recorded after it ends. */
export interface Attempt {
  readonly confirmationId: string;
  /** 1-based across the confirmation's whole life (replays continue the count). */
  readonly number: number;
  readonly startedAt: number;
  readonly durationMs: number;
  readonly statusCode: number | null;
  readonly errorKind: string | null;
  readonly errorMessage: string | null;
  readonly responseSnippet: string | null;
  /** delivered | retry | dead | disable */
  readonly outcome: string;
}

/** A confirmation claimed for delivery: everything needed to send it without another read. */
export interface Claim {
  readonly id: string;
  readonly merchantId: string;
  readonly transactionId: string;
  readonly seq: number;
  /** Exact body bytes, stored once at ingest: identical on every retry. */
  readonly body: string;
  /** The format the body was built in (the merchant's at ingest), which decides how it is sent. */
  readonly format: Format;
  /** Failed attempts since it was last (re)queued; drives the retry schedule. */
  readonly tries: number;
  /** Fencing token: an outcome is recorded only if the row still carries this token. */
  readonly token: number;
}
