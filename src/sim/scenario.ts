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
  /** When the sample was taken (epoch ms), and the CPU this process (fleet and load) has used so far. */
  readonly at: number;
  readonly harnessCpuSec: number;
  /** The node taking the load (its dashboard is at this URL's `/`). */
  readonly engineUrl: string;
}

/**
 * CPU over the steady part of the load phase (the window `sustainedPerSec` counts), from the
 * once-a-second samples: cores used on average and CPU time per delivered confirmation, for the
 * node's processes and for this one (fleet and load generator share the same machine).
 */
export interface SteadyCpu {
  readonly seconds: number;
  readonly confirmed: number;
  readonly engineCores: number;
  readonly harnessCores: number;
  readonly engineUsPerConfirmation: number;
  readonly harnessUsPerConfirmation: number;
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
  /** Undefined when the steady window held fewer than two samples (very short runs). */
  readonly steadyCpu: SteadyCpu | undefined;
  readonly drained: boolean;
  readonly errorSamples: string[];
}

/**
 * Keep-alive sockets each dispatching process may open to the fleet's origin. Every simulated
 * merchant shares that one origin, where real ones each have their own, so the node would open up
 * to all its lanes' worth of sockets to it (one origin per merchant was measured too: slower and
 * far more memory, docs/benchmarks.md). But the fleet is one Node process, and a Node server
 * accepts one new connection per turn of its event loop: once it is busy, a burst of new
 * connections waits in its accept queue, requests written on them wait past the 5 s deadline, the
 * node times them out and sends them again, and the fleet reads the first copy later: duplicates
 * made by the harness, not the node. So `instant`, which answers at once and needs few sockets for
 * any rate this machine reaches, gets 256 per process; the slow profiles, which hold a request open
 * for their latency, get as many as all lanes together (256 to 1,024), shared by the processes.
 */
export function fleetSockets(profile: ProfileName, merchants: number, lane: number, dispatchers: number): number {
  if (profile === 'instant') return 256;
  return Math.max(64, Math.floor(Math.min(Math.max(256, merchants * lane), 1024) / dispatchers));
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
      CONFIRMA_CONNECTIONS_PER_ORIGIN: String(
        fleetSockets(opts.profile, opts.merchants, opts.maxInFlightPerMerchant ?? 32, split ? (opts.workers ?? 1) : 1),
      ),
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
        (a, x) => ({
          cpuSec: a.cpuSec + x!.cpuSec,
          rssBytes: a.rssBytes + x!.rssBytes,
          peakRssBytes: a.peakRssBytes + x!.peakRssBytes,
        }),
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
        at: Date.now(),
        harnessCpuSec: cpuSecOf(process.cpuUsage()),
        engineUrl: e.url,
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
    const merchantIds = new Map([...load.merchantIndex].map(([id, i]) => [i, id]));
    const verdict = await classify(
      engine.url,
      adminKey,
      expectedCount,
      missing,
      (i) => fleet.mode(i),
      (i) => merchantIds.get(i) ?? '',
      (tx, seq) => [...fleet.entries()].some(([, e]) => e.tx === tx && e.seq === seq),
    );
    const final = sampleAll();
    await load.close();
    const steadyTo = Math.min(loadEndedAt, started + opts.durationSec * 1000);
    return {
      options: { ...opts, onTick: undefined } as Omit<ScenarioOptions, 'onTick'>,
      load: loadResult,
      fleet: fleet.stats(),
      verdict,
      ticks,
      wallSec,
      confirmedPerSec: verdict.delivered / Math.max(wallSec, 0.001),
      // Up to the end of the duration: past it only late approvals are still being sent.
      sustainedPerSec: deliveredBetween(fleet, fleet.steadyFrom, steadyTo),
      engine: final === undefined ? undefined : { cpuSec: final.cpuSec, peakRssBytes: final.peakRssBytes },
      steadyCpu: steadyCpu(ticks, fleet.steadyFrom, steadyTo),
      drained,
      errorSamples: load.errorSamples,
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop().catch(() => undefined)));
    await engine?.stop().catch(() => undefined);
    await fleet.close();
  }
}

const cpuSecOf = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1e6;

/** See `SteadyCpu`: from the first sample at or after `from` to the last at or before `to`. */
export function steadyCpu(ticks: readonly Tick[], from: number, to: number): SteadyCpu | undefined {
  const inside = ticks.filter((t) => t.at >= from && t.at <= to && t.engine !== undefined);
  const a = inside[0];
  const b = inside[inside.length - 1];
  if (a === undefined || b === undefined || b === a || a.engine === undefined || b.engine === undefined) return undefined;
  const seconds = (b.at - a.at) / 1000;
  const confirmed = b.fleet.accepted - a.fleet.accepted;
  const engine = b.engine.cpuSec - a.engine.cpuSec;
  const harness = b.harnessCpuSec - a.harnessCpuSec;
  const per = (cpu: number): number => (confirmed > 0 ? (cpu * 1e6) / confirmed : Number.NaN);
  return {
    seconds,
    confirmed,
    engineCores: engine / seconds,
    harnessCores: harness / seconds,
    engineUsPerConfirmation: per(engine),
    harnessUsPerConfirmation: per(harness),
  };
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
