/**
 * What every contender of the peer benchmark is, and the one way each is measured: with its
 * processes started and the receiver expecting it, the clock starts as the first job is handed
 * over (batch request, `addBulk`, `add_jobs`) and stops at the receipt that completed the last
 * transaction; CPU is its own processes' over that window.
 */
import type { ReceiverCounts } from './receiver.js';
import { CpuMeter } from './processes.js';
import type { DeliveryJob } from './task.js';
import type { Receiver } from './receiver-link.js';
import { newMessageId, type PeerTransaction, type Workload } from './workload.js';

/** Attempts per confirmation, as Confirma's default retry schedule has (0, 5 s, 5 min, … 10 h). */
export const ATTEMPTS = 8;
/** Jobs (transactions) per hand-over call, and calls in flight, for every contender. */
export const CHUNK = 1_000;
export const IN_FLIGHT = 4;

export interface RunContext {
  readonly workload: Workload;
  readonly receiver: Receiver;
  /** A scratch directory for this contender's run, removed afterwards. */
  readonly dir: string;
  readonly pgUrl: string;
  /** No new transaction at the receiver for this long ends the wait. */
  readonly stallMs: number;
  readonly log: (line: string) => void;
}

export interface ContenderResult {
  readonly expected: number;
  /** Distinct transactions received at their merchant, and what is missing. */
  readonly delivered: number;
  readonly lost: number;
  /** From the receiver's final counts, after the contender stopped. */
  readonly duplicates: number;
  readonly uniqueIds: number;
  readonly badSignatures: number;
  readonly unexpected: number;
  /** First hand-over → the receipt that completed the last transaction (or the last one, if lost). */
  readonly wallSec: number;
  readonly perSec: number;
  /** First hand-over → every job accepted (acknowledged, or the call returned). */
  readonly ingestSec: number;
  readonly cpuSec: number;
  /** CPU seconds of each process the figure adds up. */
  readonly cpuByProcess: Readonly<Record<string, number>>;
  readonly cpuUsPerConfirmation: number;
  readonly cores: number;
  /** Which processes the CPU figure adds up. */
  readonly cpuCounted: string;
  readonly pgBackends: number | undefined;
  /** Set when PostgreSQL backends could no longer be looked up mid-run (the CPU figure misses some). */
  readonly cpuIncomplete: string | undefined;
}

export interface Contender {
  readonly name: string;
  /** One line: what runs and how. */
  readonly description: string;
  /** Undefined when it can run on this machine, else why not. */
  unavailable(ctx: { pgUrl: string }): Promise<string | undefined>;
  run(ctx: RunContext): Promise<ContenderResult>;
}

/** The job a peer enqueues for a transaction. */
export function deliveryJob(t: PeerTransaction, at: number): DeliveryJob {
  return {
    msgId: newMessageId(),
    merchant: t.merchant,
    at,
    tx: {
      id: t.id,
      merchantId: `mer_peer_${t.merchant}`,
      reference: t.reference,
      amount: t.amount,
      currency: t.currency,
      status: t.status,
      customer: t.customer,
      metadata: t.metadata,
    },
  };
}

/** Calls `fn` on consecutive chunks of `items`, `inFlight` at a time, in order of start. */
export async function inChunks<T>(
  items: readonly T[],
  fn: (chunk: readonly T[]) => Promise<void>,
  size = CHUNK,
  inFlight = IN_FLIGHT,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const chunk = items.slice(next, next + size);
      next += size;
      await fn(chunk);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
}

export interface Measured {
  readonly counts: ReceiverCounts;
  readonly t0: number;
  readonly ingestSec: number;
  readonly cpuSec: number;
  readonly cpuByProcess: Readonly<Record<string, number>>;
  readonly pgBackends: number | undefined;
  readonly cpuIncomplete: string | undefined;
}

/** Runs the load and waits at the receiver; CPU from `pids` (and the named PostgreSQL backends). */
export async function measure(
  ctx: RunContext,
  opts: {
    /** What each counted process is → its pid. */
    readonly pids: Readonly<Record<string, number>>;
    readonly pg?: { readonly url: string; readonly applicationNames: readonly string[] };
    readonly load: () => Promise<void>;
  },
): Promise<Measured> {
  const meter = new CpuMeter(opts.pids, opts.pg);
  await meter.start();
  const t0 = Date.now();
  let ingestEnd = Number.NaN;
  const loaded = opts.load().then(() => {
    ingestEnd = Date.now();
  });
  const n = ctx.workload.transactions.length;
  let shown = 0;
  let counts: ReceiverCounts;
  try {
    // A load that fails (a refused batch, a lost connection) ends the wait at once.
    [counts] = await Promise.all([
      ctx.receiver.waitComplete(ctx.stallMs, (c) => {
        if (Date.now() - shown < 2_000) return;
        shown = Date.now();
        ctx.log(
          `    ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s: ${c.transactions}/${n} delivered, ${c.duplicates} dup`,
        );
      }),
      loaded,
    ]);
  } catch (err) {
    await meter.stop().catch(() => undefined);
    throw err;
  }
  const cpu = await meter.stop();
  return {
    counts,
    t0,
    ingestSec: (ingestEnd - t0) / 1000,
    cpuSec: cpu.cpuSec,
    cpuByProcess: cpu.byProcess,
    pgBackends: opts.pg === undefined ? undefined : cpu.backends,
    cpuIncomplete: cpu.lookupError,
  };
}

/** The result of a run from what was measured and the receiver's counts once the contender stopped. */
export function result(m: Measured, final: ReceiverCounts, cpuCounted: string): ContenderResult {
  const expected = final.expected;
  const end = m.counts.lastNewAt ?? m.t0;
  const wallSec = (end - m.t0) / 1000;
  const delivered = final.transactions;
  return {
    expected,
    delivered,
    lost: expected - delivered,
    duplicates: final.duplicates,
    uniqueIds: final.uniqueIds,
    badSignatures: final.badSignatures,
    unexpected: final.unexpected,
    wallSec,
    perSec: m.counts.transactions / wallSec,
    ingestSec: m.ingestSec,
    cpuSec: m.cpuSec,
    cpuByProcess: m.cpuByProcess,
    cpuUsPerConfirmation: (m.cpuSec * 1e6) / Math.max(1, m.counts.transactions),
    cores: m.cpuSec / wallSec,
    cpuCounted,
    pgBackends: m.pgBackends,
    cpuIncomplete: m.cpuIncomplete,
  };
}
