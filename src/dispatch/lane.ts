import type { DeliveryTarget } from '../domain/merchant.js';
import { CircuitBreaker } from './breaker.js';

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
  private target: DeliveryTarget | undefined;
  private loadedAt = 0;
  private loading: Promise<DeliveryTarget | undefined> | undefined;

  constructor(
    readonly merchantId: string,
    private readonly defaultMaxInFlight: number,
    breakerOpts: { failureThreshold: number; openMs: number },
  ) {
    this.breaker = new CircuitBreaker(breakerOpts);
  }

  /** Max in flight: the merchant's own setting once its target is loaded, else the default. */
  get maxInFlight(): number {
    return this.target?.merchant.maxInFlight ?? this.defaultMaxInFlight;
  }

  /** Free slots now. While the circuit is open: none; when a probe is due: one, if the lane is idle. */
  free(now: number): number {
    const state = this.breaker.state;
    const busy = this.inFlight + this.reserved;
    if (state === 'closed') return Math.max(this.maxInFlight - busy, 0);
    if (state === 'open' && now < this.breaker.nextProbeAt) return 0;
    return busy === 0 ? 1 : 0;
  }

  /** The cached target, reloaded when older than `maxAgeMs`, when a secret's overlap ends, or after `invalidate()`. */
  async getTarget(load: () => Promise<DeliveryTarget | undefined>, now: number, maxAgeMs: number): Promise<DeliveryTarget | undefined> {
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
