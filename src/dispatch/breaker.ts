import { FailureWindow, type WindowCounts } from './failure-window.js';

/**
 * A circuit breaker for one merchant. Pure: every method that needs the time takes it.
 *
 * While closed it counts every attempt that reached the merchant, first attempts and retries
 * alike, in a sliding window (`FailureWindow`): attempts, and failures that say the endpoint is
 * unwell (5xx, 429, timeout, refused, reset …).
 *
 * States and transitions (every transition goes through `moveTo`, which asserts it is allowed):
 *
 *   closed ──(onFailure, with ≥ minAttempts in the window and failures ≥ failureRate of them)──▶ open
 *   open ──(canSend at or after nextProbeAt)──▶ half_open   (that one call gets `true`: the probe)
 *   half_open ──(onSuccess)──▶ closed                      (window emptied, wait back to openMs)
 *   half_open ──(onFailure)──▶ open                        (wait doubles, up to maxOpenMs)
 *   half_open ──(onNotSent)──▶ open                        (wait kept; next probe after unsentProbeRetryMs)
 *
 * Why a rate over a volume and not consecutive failures: a merchant's retries come due together,
 * so the few payloads it refuses (an unhandled case in its handler) fail in a row while it accepts
 * nearly everything else, and ten in a row opened the circuit for the whole merchant. A rate tells
 * "down" (most attempts fail: it opens after `minAttempts`) from "refuses a few" (a small share
 * fails: it never opens), and the minimum volume keeps a handful of attempts from deciding.
 *
 * Only a probe that was sent is a verdict on the endpoint. One that never left (the merchant's
 * settings failed to load, it was disabled meanwhile, signing failed, the destination is refused)
 * must still settle the breaker, or it would stay half_open for good: `onNotSent` puts it back to
 * open with its next probe soon, not after a doubled wait.
 *
 * While open, results of requests that were already in flight when the breaker tripped are
 * ignored: they say nothing about the endpoint now, and letting a late success close the breaker
 * would make it flap. In half_open the dispatcher sends only the probe, and only once nothing else
 * of the merchant is in flight, so the next result is the probe's.
 */

/** The breaker's state; `half_open` means one probe has been let through and its result is awaited. */
export type BreakerState = 'closed' | 'open' | 'half_open';

/** Tuning for one breaker. */
export interface BreakerOptions {
  /** Attempts the window must hold before their failure rate may open the circuit. Default 20. */
  readonly minAttempts?: number;
  /** Share of the window's attempts, in percent, that must have failed to open the circuit. Default 50. */
  readonly failureRatePercent?: number;
  /** Length of the sliding window, ms (a multiple of 1 s is exact). Default 30 000. */
  readonly windowMs?: number;
  /** First wait before a probe, in ms. Default 30 000. */
  readonly openMs?: number;
  /** Longest wait before a probe, however many probes failed, in ms. Default 600 000 (10 min). */
  readonly maxOpenMs?: number;
  /** Wait before the next probe when one was never sent, in ms; at most `openMs`. Default 1 000. */
  readonly unsentProbeRetryMs?: number;
}

/** What the breaker looks like now (for the merchant view, metrics and logs). */
export interface BreakerSnapshot {
  readonly state: BreakerState;
  /** When it entered this state (epoch ms); null while it has been closed since it was made. */
  readonly since: number | null;
  /** When the next probe may go (epoch ms) while open; null otherwise. */
  readonly nextProbeAt: number | null;
  /** Probes that failed since the circuit last closed. */
  readonly failedProbes: number;
  /** Closed: the window's counts now. Open or half_open: the counts that opened it. */
  readonly window: WindowCounts;
}

const ALLOWED: Readonly<Record<BreakerState, readonly BreakerState[]>> = {
  closed: ['open'],
  open: ['half_open'],
  half_open: ['closed', 'open'],
};

/**
 * Stops sending to a merchant whose attempts mostly fail, so its backlog does not burn attempts
 * (and our sockets) while it is down, and probes it with one request at growing intervals until it
 * is back.
 */
export class CircuitBreaker {
  private readonly minAttempts: number;
  private readonly ratePercent: number;
  private readonly baseOpenMs: number;
  private readonly maxOpenMs: number;
  private readonly unsentRetryMs: number;
  private readonly window: FailureWindow;
  private current: BreakerState = 'closed';
  private enteredAt: number | null = null;
  private waitMs: number;
  private probeAt = 0;
  private probesFailed = 0;
  private trippedWith: WindowCounts = { attempts: 0, failures: 0 };

  constructor(opts: BreakerOptions = {}) {
    this.minAttempts = opts.minAttempts ?? 20;
    this.ratePercent = opts.failureRatePercent ?? 50;
    this.baseOpenMs = opts.openMs ?? 30_000;
    this.maxOpenMs = opts.maxOpenMs ?? Math.max(600_000, this.baseOpenMs);
    this.unsentRetryMs = Math.min(opts.unsentProbeRetryMs ?? 1_000, this.baseOpenMs);
    if (!Number.isInteger(this.minAttempts) || this.minAttempts < 1) {
      throw new RangeError(`minAttempts must be an integer >= 1, got ${this.minAttempts}`);
    }
    if (!(this.ratePercent > 0 && this.ratePercent <= 100)) {
      throw new RangeError(`failureRatePercent must be in (0, 100], got ${this.ratePercent}`);
    }
    if (!(this.baseOpenMs > 0) || !(this.maxOpenMs >= this.baseOpenMs)) {
      throw new RangeError(`need 0 < openMs <= maxOpenMs, got ${this.baseOpenMs} and ${this.maxOpenMs}`);
    }
    if (!(this.unsentRetryMs > 0)) throw new RangeError(`unsentProbeRetryMs must be > 0, got ${this.unsentRetryMs}`);
    this.window = new FailureWindow(opts.windowMs ?? 30_000);
    this.waitMs = this.baseOpenMs;
  }

  /** The state as of the last call; an open breaker whose wait is over stays `open` until `canSend`. */
  get state(): BreakerState {
    return this.current;
  }

  /** When the next probe may go (epoch ms). Meaningful only while `open`; 0 otherwise. */
  get nextProbeAt(): number {
    return this.current === 'open' ? this.probeAt : 0;
  }

  /** Whether a probe may go now: open and its wait is over. */
  probeDue(nowMs: number): boolean {
    return this.current === 'open' && nowMs >= this.probeAt;
  }

  /**
   * Whether a request may be sent now. When the open wait is over, the first call moves to
   * half_open and returns true: the caller must send exactly that one probe, and settle it with
   * `onSuccess`, `onFailure` or `onNotSent`. Later calls return false until it is settled.
   */
  canSend(nowMs: number): boolean {
    if (this.current === 'closed') return true;
    if (this.probeDue(nowMs)) {
      this.moveTo('half_open', nowMs);
      return true;
    }
    return false;
  }

  /** Records an answer that shows the endpoint is healthy (a 2xx, or a 4xx other than 429). */
  onSuccess(nowMs: number): void {
    if (this.current === 'closed') {
      this.window.record(nowMs, false);
    } else if (this.current === 'half_open') {
      this.moveTo('closed', nowMs);
      // A fresh start: the failures that opened it must not count against the merchant again.
      this.window.clear();
      this.waitMs = this.baseOpenMs;
      this.probesFailed = 0;
    }
    // open: a late result from before the trip; ignored (see the file comment).
  }

  /** Records a failure that says the endpoint is unwell (5xx, 429, timeout, refused, reset …). */
  onFailure(nowMs: number): void {
    if (this.current === 'closed') {
      this.window.record(nowMs, true);
      const counts = this.window.counts(nowMs);
      if (counts.attempts >= this.minAttempts && counts.failures * 100 >= this.ratePercent * counts.attempts) {
        this.trippedWith = counts;
        this.moveTo('open', nowMs);
        this.probeAt = nowMs + this.waitMs;
      }
    } else if (this.current === 'half_open') {
      this.probesFailed++;
      this.waitMs = Math.min(this.waitMs * 2, this.maxOpenMs);
      this.moveTo('open', nowMs);
      this.probeAt = nowMs + this.waitMs;
    }
    // open: ignored, the wait is not extended by results from before the trip.
  }

  /**
   * Records that a request let through was never sent, so it says nothing about the endpoint.
   * A probe gives its turn back: open again, the next probe after `unsentProbeRetryMs`. Closed or
   * open: nothing to record.
   */
  onNotSent(nowMs: number): void {
    if (this.current !== 'half_open') return;
    this.moveTo('open', nowMs);
    this.probeAt = nowMs + this.unsentRetryMs;
  }

  /** The state, since when, the next probe and the window's counts, as of `nowMs`. */
  snapshot(nowMs: number): BreakerSnapshot {
    return {
      state: this.current,
      since: this.enteredAt,
      nextProbeAt: this.current === 'open' ? this.probeAt : null,
      failedProbes: this.probesFailed,
      window: this.current === 'closed' ? this.window.counts(nowMs) : this.trippedWith,
    };
  }

  private moveTo(next: BreakerState, nowMs: number): void {
    if (!ALLOWED[this.current].includes(next)) {
      throw new Error(`circuit breaker: transition ${this.current} → ${next} is not allowed`);
    }
    this.current = next;
    this.enteredAt = nowMs;
  }
}
