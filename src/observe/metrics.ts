/**
 * A small Prometheus registry: counters, gauges and fixed-bucket histograms, rendered in the text
 * exposition format at `/metrics`. Kept tiny and allocation-free on the hot path.
 */
type Labels = Readonly<Record<string, string>>;

function labelKey(labels: Labels | undefined): string {
  if (labels === undefined) return '';
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${String(labels[k]).replace(/["\\\n]/g, '_')}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

export class Counter {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels?: Labels, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels?: Labels): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, v] of this.values) lines.push(`${this.name}${k} ${v}`);
    return lines.join('\n');
  }
}

export class Gauge {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number | Array<[Labels, number]>,
  ) {}
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    const v = this.read();
    if (typeof v === 'number') lines.push(`${this.name} ${v}`);
    else for (const [labels, n] of v) lines.push(`${this.name}${labelKey(labels)} ${n}`);
    return lines.join('\n');
  }
}

export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {
    this.counts = new Array<number>(buckets.length).fill(0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) {
      if (v <= (this.buckets[i] as number)) {
        this.counts[i] = (this.counts[i] as number) + 1;
        break;
      }
    }
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    let acc = 0;
    this.buckets.forEach((b, i) => {
      acc += this.counts[i] as number;
      lines.push(`${this.name}_bucket{le="${b}"} ${acc}`);
    });
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}`, `${this.name}_sum ${this.sum}`, `${this.name}_count ${this.count}`);
    return lines.join('\n');
  }
}

/** The metrics Confirma exports. One instance per process. */
export class Metrics {
  readonly attempts = new Counter('confirma_attempts_total', 'Delivery attempts by outcome.');
  readonly ingested = new Counter('confirma_ingested_total', 'Transactions and status changes committed.');
  readonly staleOutcomes = new Counter('confirma_stale_outcomes_total', 'Outcomes dropped because the lease had lapsed.');
  readonly outcomeWriteFailures = new Counter(
    'confirma_outcome_write_failures_total',
    'Outcome commits that failed (the store was unavailable); their outcomes are written again while their leases hold.',
  );
  readonly unrecordedOutcomes = new Counter(
    'confirma_unrecorded_outcomes_total',
    'Outcomes given up on because the store stayed unavailable until their lease ended; those confirmations are sent again.',
  );
  readonly attemptSeconds = new Histogram(
    'confirma_attempt_duration_seconds',
    'Wall time of one delivery attempt.',
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  );
  readonly commitBatch = new Histogram('confirma_commit_batch_size', 'Writes per group commit.', [
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500,
  ]);
  private readonly gauges: Gauge[] = [];

  gauge(name: string, help: string, read: () => number | Array<[Labels, number]>): void {
    this.gauges.push(new Gauge(name, help, read));
  }

  render(): string {
    return (
      [this.attempts, this.ingested, this.staleOutcomes, this.outcomeWriteFailures, this.unrecordedOutcomes, this.attemptSeconds, this.commitBatch, ...this.gauges]
        .map((m) => m.render())
        .join('\n') + '\n'
    );
  }
}
