import { isConfirmaError } from '../errors.js';
import { GroupCommit } from '../ingest/group-commit.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import { traced } from '../observe/tracing.js';
import type { OutcomeRecord, OutcomesRecorded, Store } from '../store/store.js';

/** Backoff between writes of an outcome whose commit failed: doubling from the first, up to the last. */
const RETRY_FIRST_MS = 50;
const RETRY_MAX_MS = 1_000;

export interface OutcomeWriterDeps {
  readonly store: Store;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Most outcomes in one commit. */
  readonly maxBatch: number;
  /** Told the merchants whose next confirmation of a transaction became due with a commit. */
  readonly onPromoted: (merchantIds: readonly string[]) => void;
  /** Whether a failed write may still be tried again (false once the dispatcher has stopped). */
  readonly keepTrying: () => boolean;
}

/**
 * Writes attempts' outcomes back in group commits (all outcomes finished in one turn of the event
 * loop share a transaction), each fenced by its claim's token in the store.
 */
export class OutcomeWriter {
  private readonly commits: GroupCommit<OutcomeRecord, void>;

  constructor(private readonly deps: OutcomeWriterDeps) {
    this.commits = new GroupCommit<OutcomeRecord, void>((records) => this.commit(records), {
      maxBatch: deps.maxBatch,
      maxWaitMs: 0,
    });
  }

  /**
   * Commits one outcome. When the commit fails (the store is unavailable: a full disk, a lost
   * database) the outcome is kept and written again with a doubling backoff while the claim's
   * lease holds, so a delivered confirmation is not sent twice for an outage shorter than its
   * lease. Past the lease another claim may have the row and the write would be refused as stale:
   * the outcome is given up on and the confirmation is sent again (same webhook-id); so is one
   * whose commit failed for another reason than an unavailable store. Returns whether it was
   * written.
   */
  async write(record: OutcomeRecord, leaseEndsAt: number): Promise<boolean> {
    for (let wait = RETRY_FIRST_MS; ; wait = Math.min(wait * 2, RETRY_MAX_MS)) {
      let retryable: boolean;
      try {
        await this.commits.submit(record);
        return true;
      } catch (err) {
        // Logged once per failed batch (see `commit`). A bug is not written again and again.
        retryable = isConfirmaError(err) && err.retryable;
      }
      if (!retryable || !this.deps.keepTrying() || Date.now() + wait >= leaseEndsAt) {
        this.deps.metrics.unrecordedOutcomes.inc();
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, wait).unref());
    }
  }

  /** Resolves once every outcome submitted so far has been committed (or failed). */
  drain(): Promise<void> {
    return this.commits.drain();
  }

  private async commit(records: OutcomeRecord[]): Promise<void[]> {
    const { store, metrics, log } = this.deps;
    let written: OutcomesRecorded;
    try {
      written = await traced('confirma.outcomes.commit', { 'confirma.ops': records.length }, () =>
        store.recordOutcomes(records, Date.now()),
      );
    } catch (err) {
      // One line per failed batch, not per outcome: each is written again (see `write`).
      metrics.outcomeWriteFailures.inc(undefined, records.length);
      log.error({ err, outcomes: records.length }, 'writing outcomes failed; writing them again while their leases hold');
      throw err;
    }
    const { stale, promoted } = written;
    if (stale > 0) metrics.staleOutcomes.inc(undefined, stale);
    // A transaction's next confirmation became due: its merchant's lane claims it.
    if (promoted.length > 0) this.deps.onPromoted(promoted);
    return records.map(() => undefined);
  }
}
