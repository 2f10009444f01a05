import type { DeliveryTarget } from '../domain/merchant.js';
import { CircuitBreaker, type BreakerOptions, type BreakerSnapshot, type BreakerState } from './breaker.js';
import type { Verdict } from './outcome.js';

/** A change of a lane's breaker state: what opened it (`before`, when it was not closed) and how it is now. */
export interface BreakerChange {
  readonly from: BreakerState;
  readonly to: BreakerState;
  readonly before: BreakerSnapshot | undefined;
  readonly after: BreakerSnapshot;
}

/**
 * One merchant's lane: how many of its requests are in flight, its circuit breaker, and a cached
 * copy of its delivery target (URL, settings, secrets). A slow or dead merchant fills only its own
 * lane; the dispatcher never claims more for it than the lane has room for.
 */
export class Lane {
  inFlight = 0;
  /** Slots promised to an ingest commit still running (see `Dispatcher.ingestClaimer`). */
  reserved = 0;
  /** The merchant may have due rows beyond what the lane holds: claim for it when a slot frees. */
  backlogged = false;
  readonly breaker: CircuitBreaker;
  /** No claims before this time (epoch ms): the merchant could not be loaded or sent to just now. */
  heldUntil = 0;
  private target: DeliveryTarget | undefined;
  private loadedAt = 0;
  private loading: Promise<DeliveryTarget | undefined> | undefined;

  constructor(
    readonly merchantId: string,
    private readonly defaultMaxInFlight: number,
    breakerOpts: BreakerOptions,
  ) {
    this.breaker = new CircuitBreaker(breakerOpts);
  }

  /** Max in flight: the merchant's own setting once its target is loaded, else the default. */
  get maxInFlight(): number {
    return this.target?.merchant.maxInFlight ?? this.defaultMaxInFlight;
  }

  /**
   * Free slots now. None while held. While the circuit is open: none until the probe is due, then
   * one if nothing of the merchant is in flight (so the probe's result is the only one to come);
   * while half_open: none, the probe is out.
   */
  free(now: number): number {
    if (now < this.heldUntil) return 0;
    const busy = this.inFlight + this.reserved;
    if (this.breaker.state === 'closed') return Math.max(this.maxInFlight - busy, 0);
    return this.breaker.probeDue(now) && busy === 0 ? 1 : 0;
  }

  /** Whether the lane's next claim is a probe: its circuit is not closed. */
  get probing(): boolean {
    return this.breaker.state !== 'closed';
  }

  /**
   * When a lane that is held or whose circuit is open may claim again by itself (epoch ms): the
   * later of the end of its hold and its next probe. 0 when it is waiting for nothing.
   */
  get waitsUntil(): number {
    return Math.max(this.heldUntil, this.breaker.nextProbeAt);
  }

  /**
   * Gives an attempt's verdict to the breaker; returns the change when its state moved. A circuit
   * that closes leaves the lane backlogged: rows came due while it was open.
   */
  judge(verdict: Verdict, now: number): BreakerChange | undefined {
    const from = this.breaker.state;
    // Read only while not closed (rare): what opened it, for the line that says it closed.
    const before = from === 'closed' ? undefined : this.breaker.snapshot(now);
    if (verdict === 'success') this.breaker.onSuccess(now);
    else if (verdict === 'failure') this.breaker.onFailure(now);
    else this.breaker.onNotSent(now);
    const to = this.breaker.state;
    if (to === from) return undefined;
    if (to === 'closed') this.backlogged = true;
    return { from, to, before, after: this.breaker.snapshot(now) };
  }

  /** Claims nothing for this merchant until `until` (epoch ms). */
  hold(until: number): void {
    this.heldUntil = Math.max(this.heldUntil, until);
  }

  /** The cached target, reloaded when older than `maxAgeMs`, when a secret's overlap ends, or after `invalidate()`. */
  async getTarget(
    load: () => Promise<DeliveryTarget | undefined>,
    now: number,
    maxAgeMs: number,
  ): Promise<DeliveryTarget | undefined> {
    const t = this.target;
    // Fresh enough, and no secret in it has reached the end of its rotation overlap.
    if (t !== undefined && now - this.loadedAt < maxAgeMs && (t.validUntil === null || now < t.validUntil)) return t;
    if (this.loading === undefined) {
      this.loading = load().then(
        (t) => {
          this.target = t;
          this.loadedAt = Date.now();
          this.loading = undefined;
          return t;
        },
        (err: unknown) => {
          this.loading = undefined;
          throw err;
        },
      );
    }
    return this.loading;
  }

  /** Forgets the cached target so the next attempt reads the merchant again. */
  invalidate(): void {
    this.loadedAt = 0;
  }
}
