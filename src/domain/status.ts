import { ConfirmaError } from '../errors.js';

/** Every status a transaction can have; each status it takes produces one confirmation. */
export const STATUSES = ['pending', 'approved', 'rejected', 'failed', 'reversed', 'abandoned', 'cancelled'] as const;

/** A transaction status. */
export type Status = (typeof STATUSES)[number];

/** The confirmation `type` for a status: `transaction.<status>`. */
export type ConfirmationType = `transaction.${Status}`;

/**
 * The transaction state machine: for each status, the statuses it may change to.
 *
 *   pending ──► approved ──► reversed
 *      │
 *      ├──► rejected     declined by the issuer or the anti-fraud check
 *      ├──► failed       a technical error ended it (gateway, network)
 *      ├──► abandoned    the customer never finished paying
 *      └──► cancelled    the merchant or the customer called it off before it settled
 *
 * Only an approved payment can later be reversed (refund or chargeback); a payment that never took
 * money has nothing to reverse. Every status except pending and approved is final: merchants act on
 * a confirmation (ship goods, release a booking), so a final answer must never be taken back.
 * Staying in the same status is not a transition: it would send the merchant a duplicate.
 */
export const TRANSITIONS: Readonly<Record<Status, readonly Status[]>> = {
  pending: ['approved', 'rejected', 'failed', 'abandoned', 'cancelled'],
  approved: ['reversed'],
  rejected: [],
  failed: [],
  reversed: [],
  abandoned: [],
  cancelled: [],
};

/** Whether `value` is one of `STATUSES`. */
export function isStatus(value: unknown): value is Status {
  return typeof value === 'string' && (STATUSES as readonly string[]).includes(value);
}

/** Checks a status sent by a client and returns it; throws `invalid_status` listing the allowed set. */
export function parseStatus(value: unknown, field = 'status'): Status {
  if (isStatus(value)) return value;
  const allowed = STATUSES.join(', ');
  let got = value === undefined ? 'it is missing' : `got ${JSON.stringify(value)?.slice(0, 40) ?? typeof value}`;
  if (typeof value === 'string' && isStatus(value.trim().toLowerCase())) {
    got += ` (statuses are lowercase: "${value.trim().toLowerCase()}")`;
  }
  throw new ConfirmaError('invalid_status', `${field} must be one of: ${allowed}; ${got}.`, { field });
}

/** Whether a transaction in status `from` may change to `to` (see `TRANSITIONS`). */
export function canTransition(from: Status, to: Status): boolean {
  return from !== to && TRANSITIONS[from].includes(to);
}

/**
 * Asserts a status change is allowed before it is made; throws `invalid_transition` (409) naming
 * `status` otherwise, including when the transaction is already in `to`.
 */
export function assertTransition(from: Status, to: Status): void {
  if (from === to) {
    throw new ConfirmaError('invalid_transition', `the transaction is already ${to}`, { field: 'status' });
  }
  if (!canTransition(from, to)) {
    throw new ConfirmaError('invalid_transition', `status cannot change from ${from} to ${to}`, { field: 'status' });
  }
}

/** The confirmation `type` sent to the merchant for a status: `approved` → `transaction.approved`. */
export function confirmationType(status: Status): ConfirmationType {
  return `transaction.${status}`;
}
