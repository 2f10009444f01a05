import type { Metrics } from './metrics.js';

/** What one scrape serves of the store's counts. */
export interface StoreCountsSnapshot {
  /** The last counts read, or undefined before the first read succeeded. */
  readonly counts: Readonly<Record<string, number>> | undefined;
  /** Seconds since the served counts were read (since that read began); undefined with no counts. */
  readonly ageSeconds: number | undefined;
  /** False when the last read failed, or the one under way has taken longer than the wait bound. */
  readonly up: boolean;
}

export interface StoreCountsOptions {
  /** At most one read per this many ms, success or failure (default 5,000): a scrape is no load test. */
  readonly everyMs?: number;
  /**
   * How long a scrape waits for a read under way (default 2,000 ms): well inside Prometheus's
   * default 10 s scrape timeout. A read that takes longer goes on, and a later scrape serves it.
   */
  readonly waitMs?: number;
  /** Called with each failed read's error. */
  readonly onError?: (err: unknown) => void;
  readonly now?: () => number;
}

/**
 * The store's open confirmations by state, for /metrics, kept between scrapes. The counts are
 * wanted most while the store is in trouble, so a failed or hung read never fails or holds up a
 * scrape: it serves the last counts read, with their age, and says the store did not answer.
 * One read at a time: a store that hangs gets no pile of counts behind the one it holds.
 */
export class StoreCounts {
  private readonly everyMs: number;
  private readonly waitMs: number;
  private readonly now: () => number;
  private counts: Readonly<Record<string, number>> | undefined;
  private readAt = 0;
  private triedAt = Number.NEGATIVE_INFINITY;
  private failed = false;
  private reading: { readonly promise: Promise<void>; readonly startedAt: number } | undefined;

  constructor(
    private readonly read: () => Promise<Readonly<Record<string, number>>>,
    private readonly opts: StoreCountsOptions = {},
  ) {
    this.everyMs = opts.everyMs ?? 5_000;
    this.waitMs = opts.waitMs ?? 2_000;
    this.now = opts.now ?? Date.now;
  }

  /** The counts for one scrape: read again when due, waiting for the store no longer than the bound. */
  async snapshot(): Promise<StoreCountsSnapshot> {
    if (this.reading === undefined && this.now() - this.triedAt >= this.everyMs) this.start();
    const reading = this.reading;
    if (reading !== undefined) {
      const left = reading.startedAt + this.waitMs - this.now();
      if (left > 0) await within(reading.promise, left);
    }
    const now = this.now();
    const late = this.reading !== undefined && now - this.reading.startedAt >= this.waitMs;
    return {
      counts: this.counts,
      ageSeconds: this.counts === undefined ? undefined : Math.max(0, now - this.readAt) / 1000,
      up: !this.failed && !late,
    };
  }

  private start(): void {
    const startedAt = this.now();
    this.triedAt = startedAt;
    // Through a microtask, so a read that throws at once settles like one that rejects.
    const reading = {
      startedAt,
      promise: Promise.resolve()
        .then(() => this.read())
        .then(
          (counts) => {
            this.counts = counts;
            this.readAt = startedAt;
            this.failed = false;
          },
          (err: unknown) => {
            this.failed = true;
            this.opts.onError?.(err);
          },
        )
        .finally(() => {
          if (this.reading === reading) this.reading = undefined;
        }),
    };
    this.reading = reading;
  }
}

/** Resolves when `promise` settles or after `ms`, whichever comes first. */
async function within(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/**
 * The three gauges of the store's counts: `confirma_confirmations{state}` (the last counts read),
 * `confirma_confirmations_age_seconds` (how old they are) and `confirma_store_up` (whether the
 * last read answered in time). One scrape reads the store once for all three.
 */
export function registerStoreCounts(metrics: Metrics, counts: StoreCounts): void {
  metrics.gauge(
    'confirma_confirmations',
    'Confirmations not yet delivered, by state (waiting, pending, inflight, parked, dead).',
    async () =>
      Object.entries((await counts.snapshot()).counts ?? {}).map(([state, n]): [{ state: string }, number] => [{ state }, n]),
  );
  metrics.gauge(
    'confirma_confirmations_age_seconds',
    'Seconds since confirma_confirmations was read from the store (absent until a first read succeeds).',
    async () => {
      const age = (await counts.snapshot()).ageSeconds;
      return age === undefined ? [] : age;
    },
  );
  metrics.gauge(
    'confirma_store_up',
    '1 if the last read of confirma_confirmations from the store answered in time, else 0.',
    async () => ((await counts.snapshot()).up ? 1 : 0),
  );
}
