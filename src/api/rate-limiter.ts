/**
 * Per-key token buckets: each API key may make `ratePerSec` requests a second on average, with
 * bursts up to `burst`. Past that, requests answer 429 with `Retry-After`. One node's view only:
 * behind a load balancer each node applies the limit on its own.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
  ) {}

  /** Takes one token for `key`; returns 0 when allowed, else the ms to wait for the next token. */
  take(key: string, now: number): number {
    if (this.ratePerSec <= 0) return 0; // 0 disables the limit
    let b = this.buckets.get(key);
    if (b === undefined) {
      if (this.buckets.size >= 100_000) this.buckets.clear(); // bounded memory under a key-spraying attack
      b = { tokens: this.burst, at: now };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) * this.ratePerSec) / 1000);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) * 1000) / this.ratePerSec);
  }
}
