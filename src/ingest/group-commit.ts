/**
 * Group commit: writes that arrive while the database is busy, or within one turn of the event
 * loop, share one database transaction and so one fsync. Each caller is answered only after the
 * commit that holds its write; if the commit fails, every caller in it gets the error.
 *
 * One flush runs at a time (the store has one writer); ops that arrive meanwhile form the next
 * batch. A batch is cut at `maxBatch` ops; `maxWaitMs` > 0 lets a lone op wait for company.
 */
export interface GroupCommitOptions {
  /** Most ops in one transaction. */
  readonly maxBatch: number;
  /** How long the first op of a batch may wait for others; 0 = only the current event-loop turn. */
  readonly maxWaitMs: number;
}

interface Pending<Op, Res> {
  readonly op: Op;
  readonly resolve: (r: Res) => void;
  readonly reject: (e: unknown) => void;
}

export class GroupCommit<Op, Res> {
  private queue: Pending<Op, Res>[] = [];
  private flushing = false;
  private scheduled = false;
  private idle: Array<() => void> = [];
  /** Batches committed and ops in them, for metrics and benchmarks. */
  batches = 0;
  ops = 0;

  constructor(
    private readonly run: (ops: Op[]) => Promise<Res[]>,
    private readonly opts: GroupCommitOptions,
  ) {}

  /** Queues one op; resolves with its result after the commit that holds it. */
  submit(op: Op): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      this.schedule();
    });
  }

  /** Ops waiting for a flush. */
  get backlog(): number {
    return this.queue.length;
  }

  /** Resolves once every op submitted so far has been committed (or failed). */
  drain(): Promise<void> {
    if (!this.flushing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private schedule(): void {
    if (this.flushing || this.scheduled) return;
    this.scheduled = true;
    const go = (): void => {
      this.scheduled = false;
      void this.flush();
    };
    if (this.opts.maxWaitMs > 0 && this.queue.length < this.opts.maxBatch) setTimeout(go, this.opts.maxWaitMs);
    else setImmediate(go);
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.opts.maxBatch);
        try {
          const results = await this.run(batch.map((p) => p.op));
          this.batches++;
          this.ops += batch.length;
          batch.forEach((p, i) => p.resolve(results[i] as Res));
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
        // Let requests parsed meanwhile join the next batch instead of flushing one op at a time.
        if (this.queue.length > 0 && this.queue.length < this.opts.maxBatch) await new Promise(setImmediate);
      }
    } finally {
      this.flushing = false;
      const waiters = this.idle;
      this.idle = [];
      for (const w of waiters) w();
    }
  }
}
