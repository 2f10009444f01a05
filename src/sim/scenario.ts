import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { startEngineProcess, type EngineProcess } from './engine-process.js';
import { Fleet, type FleetStats } from './fleet.js';
import { Load, localFleet, unpackExpected, type LoadProgress } from './load.js';
import type { ProcSample } from './proc-stats.js';
import type { ProfileName } from './profiles.js';
import { classify, countExpected, deliveredKeys, findMissing, type Verdict } from './verify.js';

/**
 * One end-to-end run, shared by the demo and the benchmark: a node as its own process on a fresh
 * SQLite file, the fleet and the load generator in this process; offer the rate for the duration,
 * wait (bounded) for every confirmation of a healthy merchant to reach the fleet, then verify the
 * ledger against what was acknowledged.
 */

/** No new delivery for this long ends the drain: the attempt deadline (5 s) plus the 5 s retry, and slack. */
const STALL_MS = 12_000;

export interface ScenarioOptions {
  readonly dir: string;
  readonly profile: ProfileName;
  readonly rate: number;
  readonly durationSec: number;
  readonly merchants: number;
  /** Longest wait after the load for healthy merchants' confirmations, ms. */
  readonly drainTimeoutMs: number;
  readonly pendingShare?: number;
  readonly maxInFlightPerMerchant?: number;
  /** Closed loop: pause sending while more than this many confirmations are unconfirmed. */
  readonly maxBacklog?: number;
  /** Extra CONFIRMA_* settings for the node. */
  readonly engineEnv?: Record<string, string>;
  readonly nodeArgs?: readonly string[];
  /**
   * Extra `--role worker` processes (needs DATABASE_URL=postgres://… in `engineEnv`). With any,
   * the node taking the load runs `--role api`; CPU and RSS then add up every process.
   */
  readonly workers?: number;
  /**
   * How often the node's /metrics is read (default 1000 ms). Its per-state counts are a scan of the
   * confirmations table, which costs the node real CPU on a big table: benchmarks read it seldom.
   */
  readonly metricsEveryMs?: number;
  /** Called once a second with the latest sample. */
  readonly onTick?: (t: Tick) => void;
}

export interface Tick {
  readonly elapsedSec: number;
  readonly phase: 'load' | 'drain';
  readonly load: LoadProgress;
  readonly fleet: FleetStats;
  /** Confirmations accepted by the fleet in the last second. */
  readonly confirmedPerSec: number;
  /** Acknowledged confirmations not yet in the ledger. */
  readonly backlog: number;
  /** Confirmations queued in the engine (pending, inflight, waiting), dead, and retries scheduled so far. */
  readonly queued: number;
  readonly dead: number;
  readonly retries: number;
  readonly engine: ProcSample | undefined;
}

export interface ScenarioResult {
  readonly options: Omit<ScenarioOptions, 'onTick'>;
  readonly load: LoadProgress;
  readonly fleet: FleetStats;
  readonly verdict: Verdict;
  readonly ticks: Tick[];
  /** Seconds from the first send until the last healthy confirmation arrived (or the drain gave up). */
  readonly wallSec: number;
  /** Delivered confirmations per second over the load phase plus drain. */
  readonly confirmedPerSec: number;
  /**
   * Confirmations delivered per second while the load ran, past its warm-up: with a closed loop
   * (`maxBacklog`) this is the rate the engine sustains. `confirmedPerSec` also counts the drain,
   * which waits for retries scheduled seconds or minutes later.
   */
  readonly sustainedPerSec: number;
  readonly engine: { cpuSec: number; peakRssBytes: number } | undefined;
  readonly drained: boolean;
  readonly errorSamples: string[];
}

export async function runScenario(opts: ScenarioOptions): Promise<ScenarioResult> {
  mkdirSync(opts.dir, { recursive: true });
  const adminKey = randomBytes(24).toString('hex');
  const fleet = await new Fleet({ merchants: opts.merchants, profile: opts.profile }).listen();
  let engine: EngineProcess | undefined;
  const workers: EngineProcess[] = [];
  const split = (opts.workers ?? 0) > 0;
  try {
    const baseEnv: Record<string, string> = {
      CONFIRMA_ADMIN_KEY: adminKey,
      // Only this run's fleet, on this machine: the default (no private destinations) is unchanged.
      CONFIRMA_ALLOW_PRIVATE_DESTINATIONS: 'loopback',
      CONFIRMA_LOG_LEVEL: 'warn',
      // Merchants that hang are cut after 5 s instead of 15 s, so a short run drains.
      CONFIRMA_ATTEMPT_TIMEOUT_MS: '5000',
      CONFIRMA_LEASE_MS: '30000',
      CONFIRMA_SHUTDOWN_GRACE_MS: '2000',
      // The load generator is the whole payment platform on one key: its limit is sized for that.
      CONFIRMA_RATE_LIMIT: '20000',
      // Every simulated merchant shares the fleet's one origin, where real ones each have their
      // own: give the origin as many sockets as all lanes together, as separate origins would (up
      // to 1,024). One origin per merchant was measured too: slower and far more memory
      // (docs/benchmarks.md).
      CONFIRMA_CONNECTIONS_PER_ORIGIN: String(Math.min(Math.max(256, opts.merchants * (opts.maxInFlightPerMerchant ?? 32)), 1024)),
      ...opts.engineEnv,
    };
    engine = await startEngineProcess({
      dbPath: path.join(opts.dir, 'confirma.db'),
      logFile: path.join(opts.dir, 'engine.log'),
      nodeArgs: opts.nodeArgs,
      env: split ? { ...baseEnv, CONFIRMA_ROLE: 'api' } : baseEnv,
    });
    for (let i = 0; i < (opts.workers ?? 0); i++) {
      workers.push(
        await startEngineProcess({
          dbPath: path.join(opts.dir, 'confirma.db'),
          logFile: path.join(opts.dir, `worker-${i}.log`),
          nodeArgs: opts.nodeArgs,
          env: { ...baseEnv, CONFIRMA_ROLE: 'worker' },
        }),
      );
    }
    const all = [engine, ...workers];
    /** CPU and RSS summed over every process of the run (peak RSS: the sum of each one's peak). */
    const sampleAll = (): ProcSample | undefined => {
      const ss = all.map((e) => e.sample());
      if (ss.some((x) => x === undefined)) return undefined;
      return ss.reduce<ProcSample>(
        (a, x) => ({ cpuSec: a.cpuSec + x!.cpuSec, rssBytes: a.rssBytes + x!.rssBytes, peakRssBytes: a.peakRssBytes + x!.peakRssBytes }),
        { cpuSec: 0, rssBytes: 0, peakRssBytes: 0 },
      );
    };
    const load: Load = new Load({
      url: engine.url,
      adminKey,
      rate: opts.rate,
      durationSec: opts.durationSec,
      merchants: opts.merchants,
      fleet: localFleet(fleet),
      pendingShare: opts.pendingShare,
      maxInFlight: opts.maxInFlightPerMerchant,
      maxBacklog: opts.maxBacklog,
      backlog: (): number => load.progress().sent - fleet.acceptedCount,
    });
    await load.setup();
    // The engine's delay is measured past the warm-up (JIT, first connections): a fifth of the
    // run, at most 5 s.
    fleet.steadyFrom = Date.now() + Math.min(5_000, (opts.durationSec * 1000) / 5);
    const ticks: Tick[] = [];
    let phase: Tick['phase'] = 'load';
    let lastAccepted = 0;
    const started = Date.now();
    let m = new Map<string, number>();
    let metricsAt = 0;
    const tick = async (): Promise<void> => {
      const e = engine as EngineProcess;
      if (Date.now() - metricsAt >= (opts.metricsEveryMs ?? 1_000)) {
        metricsAt = Date.now();
        m = await e.metrics().catch(() => m);
      }
      const s = fleet.stats();
      const p = load.progress();
      const t: Tick = {
        elapsedSec: (Date.now() - started) / 1000,
        phase,
        load: p,
        fleet: s,
        confirmedPerSec: s.accepted - lastAccepted,
        backlog: Math.max(p.expectedConfirmations - s.accepted, 0),
        queued:
          (m.get('confirma_confirmations{state="pending"}') ?? 0) +
          (m.get('confirma_confirmations{state="inflight"}') ?? 0) +
          (m.get('confirma_confirmations{state="waiting"}') ?? 0),
        dead: m.get('confirma_confirmations{state="dead"}') ?? 0,
        retries: m.get('confirma_attempts_total{outcome="retry"}') ?? 0,
        engine: sampleAll(),
      };
      lastAccepted = s.accepted;
      ticks.push(t);
      opts.onTick?.(t);
    };
    let ticking = Promise.resolve();
    const timer = setInterval(() => {
      ticking = ticking.then(tick, () => undefined);
    }, 1_000);
    let loadResult: LoadProgress;
    let drained = false;
    let loadEndedAt = Date.now();
    try {
      loadResult = await load.run();
      loadEndedAt = Date.now();
      phase = 'drain';
      // Healthy merchants accept everything in the end; down ones never do (their rows keep retrying).
      let expectedHealthy = 0;
      for (const v of load.expected.values()) {
        const { confirmations, merchantIndex } = unpackExpected(v);
        if (fleet.mode(merchantIndex) === 'up') expectedHealthy += confirmations;
      }
      // Stop waiting at the bound, or once nothing arrived for a while: what is left then is a retry
      // scheduled minutes away (the default schedule's third attempt), which the verdict reports.
      const giveUp = Date.now() + opts.drainTimeoutMs;
      let seen = fleet.stats().accepted;
      let seenAt = Date.now();
      while (Date.now() < giveUp && Date.now() - seenAt < STALL_MS) {
        const accepted = fleet.stats().accepted;
        if (accepted >= expectedHealthy) {
          drained = true;
          break;
        }
        if (accepted > seen) {
          seen = accepted;
          seenAt = Date.now();
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      clearInterval(timer);
      await ticking;
    }
    const wallSec = ((drained ? lastAcceptedAt(fleet) : Date.now()) - started) / 1000;
    const expectedCount = countExpected(load.expected);
    const delivered = deliveredKeys(fleet.entries());
    const missing = findMissing(load.expected, delivered);
    const verdict = await classify(
      engine.url,
      adminKey,
      expectedCount,
      missing,
      (i) => fleet.mode(i),
      (tx, seq) => [...fleet.entries()].some(([, e]) => e.tx === tx && e.seq === seq),
    );
    const final = sampleAll();
    await load.close();
    return {
      options: { ...opts, onTick: undefined } as Omit<ScenarioOptions, 'onTick'>,
      load: loadResult,
      fleet: fleet.stats(),
      verdict,
      ticks,
      wallSec,
      confirmedPerSec: verdict.delivered / Math.max(wallSec, 0.001),
      // Up to the end of the duration: past it only late approvals are still being sent.
      sustainedPerSec: deliveredBetween(fleet, fleet.steadyFrom, Math.min(loadEndedAt, started + opts.durationSec * 1000)),
      engine: final === undefined ? undefined : { cpuSec: final.cpuSec, peakRssBytes: final.peakRssBytes },
      drained,
      errorSamples: load.errorSamples,
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop().catch(() => undefined)));
    await engine?.stop().catch(() => undefined);
    await fleet.close();
  }
}

/** Confirmations accepted per second between two times (the steady part of the load phase). */
function deliveredBetween(fleet: Fleet, from: number, to: number): number {
  if (to <= from) return 0;
  let n = 0;
  for (const [, e] of fleet.entries()) if (e.at >= from && e.at < to) n++;
  return n / ((to - from) / 1000);
}

/** Receive time of the newest ledger entry. */
function lastAcceptedAt(fleet: Fleet): number {
  let last = 0;
  for (const [, e] of fleet.entries()) if (e.at > last) last = e.at;
  return last;
}
