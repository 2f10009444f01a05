/**
 * How long an attempt may last under its claim's lease: the one rule behind the check on
 * CONFIRMA_LEASE_MS at start-up, the largest `timeoutMs` the API lets a merchant set, and the
 * deadline the dispatcher gives each attempt.
 *
 * A claim's lease must outlive everything done under it, or another claim (on this node's own
 * scan or another worker's) takes the row while the first attempt is still in flight and the
 * merchant gets the same confirmation twice, the first outcome then refused as stale. Under one
 * lease the dispatcher loads the merchant (cached), builds and signs the request, sends it under
 * one absolute deadline (the pool wait included, see `http-client.ts`), classifies the answer and
 * commits the outcome. The deadline is the only long part; everything after it must fit in
 * `OUTCOME_ALLOWANCE_MS`: the grace turn that lets an answer already in the socket count, an event
 * loop running late on a busy node, and the group commit of the outcome.
 */

/** What a lease keeps beyond an attempt's deadline, for the attempt to end and its outcome to be committed. */
export const OUTCOME_ALLOWANCE_MS = 2_000;

/** The shortest deadline worth sending with; with less lease left the claim is handed back instead. */
export const MIN_ATTEMPT_MS = 100;

/** The longest deadline an attempt may have under a lease of `leaseMs`. */
export function longestAttemptMs(leaseMs: number): number {
  return leaseMs - OUTCOME_ALLOWANCE_MS;
}

/**
 * The deadline of an attempt about to be sent at `now` under a lease ending at `leaseEndsAt`: the
 * merchant's (or the global) timeout, cut short when the time before sending (loading the
 * merchant, a slow store) used part of the lease, or when a merchant's stored `timeoutMs` is
 * longer than a later, shorter lease allows. Zero or less: too little lease is left to send.
 */
export function attemptDeadlineMs(timeoutMs: number, leaseEndsAt: number, now: number): number {
  return Math.min(timeoutMs, leaseEndsAt - OUTCOME_ALLOWANCE_MS - now);
}
