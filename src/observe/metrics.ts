import client from 'prom-client';

/**
 * The metrics Confirma exports at `/metrics`, on prom-client: its registry renders the text
 * exposition format (escaping help texts and label values) and collects gauges at scrape time.
 * The classes here only keep the call sites' small API (`inc(labels, n)`, `observe(v)`,
 * `gauge(name, help, read)`) in front of it.
 */
export type Labels = Readonly<Record<string, string>>;

/** What a gauge reads at each scrape: one value, or one per label set (which may change between scrapes). */
export type GaugeValue = number | Array<[Labels, number]>;

export class Counter {
  private readonly counter: client.Counter;
  constructor(registry: client.Registry, name: string, help: string, labelNames: readonly string[] = []) {
    this.counter = new client.Counter({ name, help, labelNames, registers: [registry] });
  }
  /** `inc(undefined, n)` adds n: prom-client's own `inc(undefined, n)` would add 1. */
  inc(labels?: Labels, by = 1): void {
    if (labels === undefined) this.counter.inc(by);
    else this.counter.inc(labels, by);
  }
  /** The count for exactly these labels (none: the unlabelled count), for tests and tools. */
  async get(labels: Labels = {}): Promise<number> {
    const { values } = await this.counter.get();
    const keys = Object.keys(labels);
    const hit = values.find((v) => Object.keys(v.labels).length === keys.length && keys.every((k) => v.labels[k] === labels[k]));
    return hit?.value ?? 0;
  }
}

export class Histogram {
  private readonly histogram: client.Histogram;
  constructor(registry: client.Registry, name: string, help: string, buckets: readonly number[]) {
    this.histogram = new client.Histogram({ name, help, buckets: [...buckets], registers: [registry] });
  }
  observe(v: number): void {
    this.histogram.observe(v);
  }
}

/**
 * A gauge whose samples are whatever `read` answers at scrape time. prom-client's `set()` wants
 * every label name declared up front; a read that names its own label sets (quantiles, states)
 * has none to declare, so the samples are handed to the registry as they come. A read that fails
 * serves no sample for this gauge and leaves the rest of the scrape alone.
 */
class ReadGauge extends client.Gauge {
  constructor(
    registry: client.Registry,
    private readonly metricName: string,
    help: string,
    private readonly read: () => GaugeValue | Promise<GaugeValue>,
    private readonly onError: (name: string, err: unknown) => void,
  ) {
    super({ name: metricName, help, registers: [registry] });
  }
  override async get(): ReturnType<client.Gauge['get']> {
    const metric = await super.get(); // name, help, type and aggregator as prom-client has them
    try {
      const v = await this.read();
      return {
        ...metric,
        values: typeof v === 'number' ? [{ value: v, labels: {} }] : v.map(([labels, value]) => ({ value, labels })),
      };
    } catch (err) {
      this.onError(this.metricName, err);
      return { ...metric, values: [] };
    }
  }
}

let processRegistry: client.Registry | undefined;

/**
 * The process's own metrics (CPU, memory, handles, GC, event-loop lag: prom-client's defaults),
 * once per process: they describe the process, not a node, and each collection starts a GC
 * observer and an event-loop histogram that nothing can stop, so a test process running many
 * nodes would otherwise pile them up.
 */
function processMetrics(): client.Registry {
  if (processRegistry === undefined) {
    processRegistry = new client.Registry();
    client.collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export interface MetricsOptions {
  /** Called when a gauge's read throws; the scrape goes on without that gauge's samples. */
  readonly onCollectError?: (name: string, err: unknown) => void;
}

/**
 * One node's metrics, in a registry of its own (never prom-client's global one), so several nodes
 * in one process (tests, an embedding application) do not collide.
 */
export class Metrics {
  private readonly registry = new client.Registry();
  // Made with the first node, at start-up: prom-client counts the process's CPU from then on.
  private readonly process = processMetrics();
  private readonly onCollectError: (name: string, err: unknown) => void;
  readonly attempts = new Counter(this.registry, 'confirma_attempts_total', 'Delivery attempts by outcome.', ['outcome']);
  readonly ingested = new Counter(this.registry, 'confirma_ingested_total', 'Transactions and status changes committed.');
  readonly staleOutcomes = new Counter(
    this.registry,
    'confirma_stale_outcomes_total',
    'Outcomes dropped because the lease had lapsed.',
  );
  readonly outcomeWriteFailures = new Counter(
    this.registry,
    'confirma_outcome_write_failures_total',
    'Outcome commits that failed (the store was unavailable); their outcomes are written again while their leases hold.',
  );
  readonly unrecordedOutcomes = new Counter(
    this.registry,
    'confirma_unrecorded_outcomes_total',
    'Outcomes given up on because the store stayed unavailable until their lease ended; those confirmations are sent again.',
  );
  readonly attemptSeconds = new Histogram(
    this.registry,
    'confirma_attempt_duration_seconds',
    'Wall time of one delivery attempt.',
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  );
  readonly commitBatch = new Histogram(
    this.registry,
    'confirma_commit_batch_size',
    'Writes per group commit.',
    [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500],
  );

  constructor(opts: MetricsOptions = {}) {
    this.onCollectError = opts.onCollectError ?? (() => undefined);
  }

  /** A gauge read at every scrape; `read` may be async (it is awaited) and should bound its own wait. */
  gauge(name: string, help: string, read: () => GaugeValue | Promise<GaugeValue>): void {
    new ReadGauge(this.registry, name, help, read, this.onCollectError); // registers itself
  }

  /** The Content-Type of `render()`'s text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text: this node's metrics, then the process's. */
  async render(): Promise<string> {
    const [own, proc] = await Promise.all([this.registry.metrics(), this.process.metrics()]);
    return `${own}\n${proc}`;
  }
}
