/** Width of one bucket of a failure window, ms: the window slides a second at a time. */
export const BUCKET_MS = 1_000;

/** Attempts and failures counted over a window. */
export interface WindowCounts {
  readonly attempts: number;
  readonly failures: number;
}

/**
 * Attempts and failures over the last `windowMs`, in 1-second buckets kept in a ring. Pure: every
 * method takes the time. Recording is two additions (plus clearing the buckets that slid out since
 * the last call, at most one pass over the ring), so it costs nothing on the delivery hot path, and
 * its memory is fixed however many attempts a merchant makes.
 *
 * The window covers the current bucket and the ones before it, `windowMs` in all (so between
 * `windowMs - 1 s` and `windowMs` of history). A clock that steps back counts into the newest bucket.
 */
export class FailureWindow {
  private readonly attemptsIn: Uint32Array;
  private readonly failuresIn: Uint32Array;
  /** Bucket number (time / BUCKET_MS) of the newest bucket; -Infinity when nothing was recorded. */
  private head = Number.NEGATIVE_INFINITY;
  private attempts = 0;
  private failures = 0;

  constructor(readonly windowMs: number) {
    if (!Number.isInteger(windowMs) || windowMs < BUCKET_MS) {
      throw new RangeError(`windowMs must be a whole number of ms >= ${BUCKET_MS}, got ${windowMs}`);
    }
    const n = Math.ceil(windowMs / BUCKET_MS);
    this.attemptsIn = new Uint32Array(n);
    this.failuresIn = new Uint32Array(n);
  }

  /** Counts one attempt at `nowMs`, a failure or not. */
  record(nowMs: number, failed: boolean): void {
    this.advance(nowMs);
    const i = this.index(this.head);
    this.attemptsIn[i] = (this.attemptsIn[i] as number) + 1;
    this.attempts++;
    if (failed) {
      this.failuresIn[i] = (this.failuresIn[i] as number) + 1;
      this.failures++;
    }
  }

  /** The counts over the window ending at `nowMs`. */
  counts(nowMs: number): WindowCounts {
    this.advance(nowMs);
    return { attempts: this.attempts, failures: this.failures };
  }

  /** Forgets everything counted. */
  clear(): void {
    this.attemptsIn.fill(0);
    this.failuresIn.fill(0);
    this.attempts = 0;
    this.failures = 0;
    this.head = Number.NEGATIVE_INFINITY;
  }

  /** Moves the newest bucket to `nowMs`'s, emptying the buckets it passes (they left the window). */
  private advance(nowMs: number): void {
    const bucket = Math.floor(nowMs / BUCKET_MS);
    if (bucket <= this.head) return;
    const n = this.attemptsIn.length;
    if (bucket - this.head >= n) {
      // Everything counted is older than the window.
      this.attemptsIn.fill(0);
      this.failuresIn.fill(0);
      this.attempts = 0;
      this.failures = 0;
    } else {
      for (let b = this.head + 1; b <= bucket; b++) {
        const i = this.index(b);
        this.attempts -= this.attemptsIn[i] as number;
        this.failures -= this.failuresIn[i] as number;
        this.attemptsIn[i] = 0;
        this.failuresIn[i] = 0;
      }
    }
    this.head = bucket;
  }

  private index(bucket: number): number {
    const n = this.attemptsIn.length;
    return ((bucket % n) + n) % n;
  }
}
