import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** One window's figures, in seconds. */
export interface LoopDelayWindow {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/**
 * How late this process's event loop runs: the first thing to read when a node falls behind. A
 * loop that runs late answers ingest late, reads merchants' answers late and fires deadlines late.
 * Measured by Node (`monitorEventLoopDelay`) and reported per window (10 s by default): the figures
 * of the last complete window, or of the current one until the first completes.
 */
export class LoopDelay {
  private readonly histogram: IntervalHistogram;
  private readonly timer: NodeJS.Timeout;
  private last: LoopDelayWindow | undefined;

  constructor(windowMs = 10_000) {
    this.histogram = monitorEventLoopDelay({ resolution: 20 });
    this.histogram.enable();
    this.timer = setInterval(() => this.roll(), windowMs);
    this.timer.unref();
  }

  /** The latest figures (zeros before the loop has been measured at all). */
  read(): LoopDelayWindow {
    return this.last ?? this.current();
  }

  stop(): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }

  private roll(): void {
    this.last = this.current();
    this.histogram.reset();
  }

  private current(): LoopDelayWindow {
    const h = this.histogram;
    if (h.count === 0) return { p50: 0, p99: 0, max: 0 };
    return { p50: h.percentile(50) / 1e9, p99: h.percentile(99) / 1e9, max: h.max / 1e9 };
  }
}
