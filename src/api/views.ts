import type { BreakerSnapshot } from '../dispatch/breaker.js';
import type { Attempt, Confirmation } from '../domain/confirmation.js';
import { isoTime } from '../domain/iso-time.js';
import type { Merchant } from '../domain/merchant.js';
import type { Transaction } from '../domain/transaction.js';

/**
 * How stored records look on the wire: times as ISO strings, and never a secret or key hash.
 * Field names here are the public API and do not change (fields may be added).
 */

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : isoTime(ms);
}

export function merchantView(m: Merchant) {
  return {
    id: m.id,
    name: m.name,
    url: m.url,
    format: m.format,
    maxInFlight: m.maxInFlight,
    timeoutMs: m.timeoutMs,
    retrySchedule: m.retrySchedule,
    // The p_key is never returned, not even sealed.
    epayco: m.epayco === null ? null : { custId: m.epayco.custId },
    enabled: m.disabledAt === null,
    disabledAt: isoOrNull(m.disabledAt),
    disabledReason: m.disabledReason,
    createdAt: isoTime(m.createdAt),
    updatedAt: isoTime(m.updatedAt),
  };
}

/** A merchant's circuit breaker as one node sees it (`GET /v1/merchants/:id`). */
export function breakerView(b: BreakerSnapshot) {
  return {
    state: b.state,
    since: isoOrNull(b.since),
    nextProbeAt: isoOrNull(b.nextProbeAt),
    failedProbes: b.failedProbes,
    window: { attempts: b.window.attempts, failures: b.window.failures },
  };
}

export function transactionView(t: Transaction) {
  return {
    id: t.id,
    merchantId: t.merchantId,
    reference: t.reference,
    amount: t.amount,
    currency: t.currency,
    status: t.status,
    customer: t.customer,
    metadata: t.metadata,
    createdAt: isoTime(t.createdAt),
    updatedAt: isoTime(t.updatedAt),
  };
}

/** A confirmation as listed inside its transaction. */
export function confirmationSummaryView(c: Confirmation) {
  return {
    id: c.id,
    seq: c.seq,
    type: c.type,
    state: c.state,
    attempts: c.attempts,
    dueAt: isoOrNull(c.dueAt),
    deliveredAt: isoOrNull(c.deliveredAt),
    lastError: c.lastError,
    createdAt: isoTime(c.createdAt),
  };
}

/** A confirmation on its own (lists and `GET /v1/confirmations/:id`). */
export function confirmationView(c: Confirmation) {
  return { ...confirmationSummaryView(c), transactionId: c.transactionId, merchantId: c.merchantId };
}

export function attemptView(a: Attempt) {
  return {
    number: a.number,
    startedAt: isoTime(a.startedAt),
    durationMs: a.durationMs,
    statusCode: a.statusCode,
    errorKind: a.errorKind,
    errorMessage: a.errorMessage,
    responseSnippet: a.responseSnippet,
    outcome: a.outcome,
  };
}
