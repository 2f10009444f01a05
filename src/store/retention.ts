import type { PurgeCursor, Store } from './store.js';

/**
 * One retention pass: what a node past its retention ages removes, in short batches with a pause
 * between them, so neither store holds a long lock and ingest and delivery go on meanwhile.
 *
 * 1. delivered confirmations (with attempts and bodies) created more than `historyDays` ago;
 * 2. idempotency keys created more than `historyDays` ago: a retry with the same key after that
 *    is a new request;
 * 3. transactions last changed more than `transactionDays` ago with no confirmation left (so never
 *    one with an open, dead or still-kept delivered confirmation). A status change for a removed
 *    transaction gets `transaction_not_found`.
 */
export interface RetentionPolicy {
  readonly historyDays: number;
  readonly transactionDays: number;
}

export interface RetentionRemoved {
  readonly confirmations: number;
  readonly idempotencyKeys: number;
  readonly transactions: number;
}

export interface RetentionOptions {
  /** Rows per batch (default 5,000). */
  readonly batch?: number;
  /** Pause between batches, ms (default 50). */
  readonly pauseMs?: number;
  /** Checked between batches: a stopping node ends the pass early. */
  readonly stopped?: () => boolean;
}

const DAY_MS = 86_400_000;

export async function retentionPass(
  store: Store,
  policy: RetentionPolicy,
  now: number,
  opts: RetentionOptions = {},
): Promise<RetentionRemoved> {
  const batch = opts.batch ?? 5_000;
  const stopped = opts.stopped ?? (() => false);
  const pause = (): Promise<void> => new Promise((r) => setTimeout(r, opts.pauseMs ?? 50));
  const historyBefore = now - policy.historyDays * DAY_MS;
  const txBefore = now - policy.transactionDays * DAY_MS;
  let confirmations = 0;
  let idempotencyKeys = 0;
  let transactions = 0;
  for (;;) {
    const n = await store.purgeHistory(historyBefore, batch);
    confirmations += n;
    if (n < batch || stopped()) break;
    await pause();
  }
  while (!stopped()) {
    const n = await store.purgeIdempotencyKeys(historyBefore, batch);
    idempotencyKeys += n;
    if (n < batch) break;
    await pause();
  }
  let after: PurgeCursor | undefined;
  while (!stopped()) {
    const { removed, next } = await store.purgeTransactions(txBefore, batch, after);
    transactions += removed;
    if (next === undefined) break;
    after = next;
    await pause();
  }
  return { confirmations, idempotencyKeys, transactions };
}
