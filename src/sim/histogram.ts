/**
 * A latency histogram with 1 ms buckets up to a cap (default 120 s): fixed memory whatever the
 * count, exact to the millisecond, cheap to merge and to ship between processes.
 */
export class Histogram {
  readonly buckets: Uint32Array;
  count = 0;
  max = 0;

  constructor(readonly capMs = 120_000) {
    this.buckets = new Uint32Array(capMs + 1);
  }

  record(ms: number): void {
    const i = Math.min(Math.max(Math.round(ms), 0), this.capMs);
    this.buckets[i] = (this.buckets[i] ?? 0) + 1;
    this.count++;
    if (ms > this.max) this.max = ms;
  }

  /** The q-quantile (0..1) in ms, or NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(Math.ceil(q * this.count), 1);
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i] ?? 0;
      if (seen >= rank) return i;
    }
    return this.capMs;
  }

  /** Sparse form for JSON: [[ms, count], …]. */
  toJSON(): { capMs: number; count: number; max: number; sparse: Array<[number, number]> } {
    const sparse: Array<[number, number]> = [];
    this.buckets.forEach((n, i) => {
      if (n > 0) sparse.push([i, n]);
    });
    return { capMs: this.capMs, count: this.count, max: this.max, sparse };
  }

  static fromJSON(j: { capMs: number; count: number; max: number; sparse: Array<[number, number]> }): Histogram {
    const h = new Histogram(j.capMs);
    for (const [i, n] of j.sparse) h.buckets[i] = n;
    h.count = j.count;
    h.max = j.max;
    return h;
  }
}
