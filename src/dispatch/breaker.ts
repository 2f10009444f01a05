/**
 * A circuit breaker for one merchant. Pure: every method that needs the time takes it.
 *
 * States and transitions (every transition goes through `moveTo`, which asserts it is allowed):
 *
 *   closed ──(failureThreshold consecutive failures)──▶ open
 *   open ──(canSend at or after nextProbeAt)──▶ half_open   (that one call gets `true`: the probe)
 *   half_open ──(onSuccess)──▶ closed                      (wait resets to openMs)
 *   half_open ──(onFailure)──▶ open                        (wait doubles, up to maxOpenMs)
 *
 * While open, results of requests that were already in flight when the breaker tripped are
 * ignored: they say nothing about the endpoint now, and letting a late success close the breaker
 * would make it flap. In half_open the dispatcher sends only the probe, so the next result is
 * taken to be the probe's.
 */

/** The breaker's state; `half_open` means one probe has been let through and its result is awaited. */
export type BreakerState = 'closed' | 'open' | 'half_open';

/** Tuning for one breaker. */
export interface BreakerOptions {
  /** Consecutive failures that open the circuit. Default 10. */
  readonly failureThreshold?: number;
  /** First wait before a probe, in ms. Default 30 000. */
  readonly openMs?: number;
  /** Longest wait before a probe, however many probes failed, in ms. Default 600 000 (10 min). */
  readonly maxOpenMs?: number;
}

const ALLOWED: Readonly<Record<BreakerState, readonly BreakerState[]>> = {
  closed: ['open'],
  open: ['half_open'],
  half_open: ['closed', 'open'],
};

/**
 * Stops sending to a merchant that keeps failing, so its backlog does not burn attempts (and our
 * sockets) while it is down, and probes it with one request at growing intervals until it is back.
 */
export class CircuitBreaker {
  private readonly threshold: number;
  private readonly baseOpenMs: number;
  private readonly maxOpenMs: number;
  private current: BreakerState = 'closed';
  private failures = 0;
  private waitMs: number;
  private probeAt = 0;

  constructor(opts: BreakerOptions = {}) {
    this.threshold = opts.failureThreshold ?? 10;
    this.baseOpenMs = opts.openMs ?? 30_000;
    this.maxOpenMs = opts.maxOpenMs ?? Math.max(600_000, this.baseOpenMs);
    if (!Number.isInteger(this.threshold) || this.threshold < 1) {
      throw new RangeError(`failureThreshold must be an integer >= 1, got ${this.threshold}`);
    }
    if (!(this.baseOpenMs > 0) || !(this.maxOpenMs >= this.baseOpenMs)) {
      throw new RangeError(`need 0 < openMs <= maxOpenMs, got ${this.baseOpenMs} and ${this.maxOpenMs}`);
    }
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

  /** Consecutive failures counted while closed (for metrics and tests). */
  get consecutiveFailures(): number {
    return this.failures;
  }

  /**
   * Whether a request may be sent now. When the open wait is over, the first call moves to
   * half_open and returns true: the caller must send exactly that one probe. Later calls return
   * false until the probe's result arrives.
   */
  canSend(nowMs: number): boolean {
    if (this.current === 'closed') return true;
    if (this.current === 'open' && nowMs >= this.probeAt) {
      this.moveTo('half_open');
      return true;
    }
    return false;
  }

  /** Records a 2xx (or any answer that shows the endpoint is healthy). */
  onSuccess(): void {
    if (this.current === 'closed') {
      this.failures = 0;
    } else if (this.current === 'half_open') {
      this.moveTo('closed');
      this.failures = 0;
      this.waitMs = this.baseOpenMs;
    }
    // open: a late result from before the trip; ignored (see the file comment).
  }

  /** Records a failure that says the endpoint is unwell (5xx, timeout, refused, reset …). */
  onFailure(nowMs: number): void {
    if (this.current === 'closed') {
      this.failures++;
      if (this.failures >= this.threshold) {
        this.moveTo('open');
        this.probeAt = nowMs + this.waitMs;
      }
    } else if (this.current === 'half_open') {
      this.waitMs = Math.min(this.waitMs * 2, this.maxOpenMs);
      this.moveTo('open');
      this.probeAt = nowMs + this.waitMs;
    }
    // open: ignored, the wait is not extended by results from before the trip.
  }

  private moveTo(next: BreakerState): void {
    if (!ALLOWED[this.current].includes(next)) {
      throw new Error(`circuit breaker: transition ${this.current} → ${next} is not allowed`);
    }
    this.current = next;
  }
}
