/**
 * The peer benchmark (`npm run bench -- --peers`, or `node dist/bench/peers.js`): Confirma against
 * what a platform team would build it on, on the same machine in the same run, delivering the
 * same signed confirmations to the same receiver. Each round makes N transactions for M
 * merchants once and starts one receiver (bench/peers/receiver.ts); then, one contender at a time
 * and each on a fresh store, it probes the raw ceiling for a few seconds and runs the contender:
 *   confirma-sqlite, bullmq-mem, bullmq-aof, graphile, confirma-pg
 * (rounds interleave them: A, B, C, A, B, C …, since this machine's speed drifts by a factor of two
 * within minutes). A contender's rate is N / (first job handed over → last new transaction at the
 * receiver); its CPU is its own processes'. Medians over the rounds go into a table with each
 * rate's ratio to its own probe and Confirma's (SQLite) ratio to each peer, round by round; the
 * JSON goes to bench/results/peers-<time>.json. A contender that cannot run here (no
 * redis-server, no PostgreSQL) is skipped with the reason.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rawCeiling, sampleBodyBytes } from '../raw-ceiling.js';
import { bullmq, BULLMQ_CONCURRENCY } from './bullmq.js';
import { confirma } from './confirma.js';
import { ATTEMPTS, CHUNK, IN_FLIGHT, type Contender, type ContenderResult } from './contender.js';
import { graphile } from './graphile.js';
import { Receiver } from './receiver-link.js';
import { makeWorkload } from './workload.js';

export interface PeersOptions {
  readonly n: number;
  readonly merchants: number;
  readonly rounds: number;
  /** Contender names to run (default all), in the fixed order. */
  readonly only: ReadonlySet<string> | undefined;
  readonly graphileConcurrency: number;
  readonly graphileLocalQueue: number;
  readonly probeSeconds: number;
  readonly probeConcurrency: number;
  readonly stallSeconds: number;
  readonly quick: boolean;
  readonly out: string;
  readonly pgUrl: string;
}

export const CONTENDERS = ['confirma-sqlite', 'bullmq-mem', 'bullmq-aof', 'graphile', 'confirma-pg'] as const;

const USAGE = `Usage: node dist/bench/peers.js [--n 40000] [--merchants 50] [--rounds 3] [--only ${CONTENDERS.join(',')}]
       [--graphile-concurrency 64] [--graphile-local-queue 500] [--probe-seconds 3] [--stall-seconds 30]
       [--quick] [--out <dir>]
(also: npm run bench -- --peers [the same options])
`;

export function defaultPeersOptions(quick: boolean): PeersOptions {
  return {
    n: quick ? 1_000 : 40_000,
    merchants: quick ? 10 : 50,
    rounds: quick ? 1 : 3,
    only: undefined,
    graphileConcurrency: 64,
    graphileLocalQueue: 500,
    probeSeconds: quick ? 1 : 3,
    probeConcurrency: quick ? 16 : 128,
    stallSeconds: quick ? 15 : 30,
    quick,
    out: fileURLToPath(new URL('../../../bench/results/', import.meta.url)),
    pgUrl: process.env.CONFIRMA_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  };
}

export function parsePeersArgs(argv: readonly string[]): PeersOptions {
  let o: PeersOptions = defaultPeersOptions(argv.includes('--quick'));
  const num = (name: string, v: string | undefined, min: number): number => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < min) throw new Error(`${name} must be a whole number ≥ ${min}, got ${v}`);
    return x;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = (): string | undefined => argv[++i];
    if (a === '--quick') continue;
    else if (a === '--n') o = { ...o, n: num('--n', v(), 1) };
    else if (a === '--merchants') o = { ...o, merchants: num('--merchants', v(), 1) };
    else if (a === '--rounds') o = { ...o, rounds: num('--rounds', v(), 1) };
    else if (a === '--graphile-concurrency') o = { ...o, graphileConcurrency: num('--graphile-concurrency', v(), 1) };
    else if (a === '--graphile-local-queue') o = { ...o, graphileLocalQueue: num('--graphile-local-queue', v(), -1) };
    else if (a === '--probe-seconds') o = { ...o, probeSeconds: num('--probe-seconds', v(), 1) };
    else if (a === '--stall-seconds') o = { ...o, stallSeconds: num('--stall-seconds', v(), 1) };
    else if (a === '--out') o = { ...o, out: v() as string };
    else if (a === '--only') {
      const names = (v() ?? '').split(',').filter((s) => s !== '');
      const unknown = names.filter((s) => !(CONTENDERS as readonly string[]).includes(s));
      if (unknown.length > 0 || names.length === 0)
        throw new Error(`--only takes some of ${CONTENDERS.join(',')}; got ${names.join(',')}`);
      o = { ...o, only: new Set(names) };
    } else if (a === '--help') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  return o;
}

function contenders(o: PeersOptions): Contender[] {
  const all: Contender[] = [
    confirma('sqlite'),
    bullmq('none'),
    bullmq('aof'),
    graphile({ concurrency: o.graphileConcurrency, localQueueSize: o.graphileLocalQueue }),
    confirma('pg'),
  ];
  return all.filter((c) => o.only === undefined || o.only.has(c.name));
}

export interface PeerRun extends Partial<ContenderResult> {
  readonly contender: string;
  readonly round: number;
  readonly rawProbePerSec: number;
  readonly error?: string;
}

const median = (xs: readonly number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

const fmt = (n: number | undefined, digits = 0): string =>
  n === undefined || !Number.isFinite(n)
    ? '–'
    : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function summarise(name: string, runs: readonly PeerRun[], all: readonly PeerRun[]) {
  const mine = runs.filter((r) => r.contender === name);
  const ok = mine.filter((r) => r.error === undefined);
  const rate = ok.map((r) => r.perSec as number);
  // Confirma (SQLite) ÷ this, within each round: both measured minutes apart, not across rounds.
  const versus = ok.map((r) => {
    const base = all.find((x) => x.contender === 'confirma-sqlite' && x.round === r.round && x.error === undefined);
    return base === undefined ? Number.NaN : (base.perSec as number) / (r.perSec as number);
  });
  const versusNormalised = ok.map((r) => {
    const base = all.find((x) => x.contender === 'confirma-sqlite' && x.round === r.round && x.error === undefined);
    return base === undefined
      ? Number.NaN
      : (base.perSec as number) / base.rawProbePerSec / ((r.perSec as number) / r.rawProbePerSec);
  });
  return {
    contender: name,
    runs: mine.length,
    failed: mine.length - ok.length,
    medianPerSec: median(rate),
    minPerSec: Math.min(...rate),
    maxPerSec: Math.max(...rate),
    medianProbePerSec: median(ok.map((r) => r.rawProbePerSec)),
    medianOfProbe: median(ok.map((r) => (r.perSec as number) / r.rawProbePerSec)),
    confirmaSqliteOverThis: median(versus),
    confirmaSqliteOverThisProbeNormalised: median(versusNormalised),
    medianCpuUsPerConfirmation: median(ok.map((r) => r.cpuUsPerConfirmation as number)),
    medianCores: median(ok.map((r) => r.cores as number)),
    medianIngestSec: median(ok.map((r) => r.ingestSec as number)),
    lost: mine.reduce((a, r) => a + (r.lost ?? r.expected ?? 0), 0),
    duplicates: mine.reduce((a, r) => a + (r.duplicates ?? 0), 0),
    badSignatures: mine.reduce((a, r) => a + (r.badSignatures ?? 0), 0),
    cpuCounted: ok[0]?.cpuCounted,
  };
}

/** Runs the rounds and writes the JSON; the caller prints `table` (then `wrote <file>`). */
export async function runPeers(o: PeersOptions): Promise<{ ok: boolean; file: string; table: string }> {
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const startedAt = new Date();
  const bytes = sampleBodyBytes();
  const chosen = contenders(o);
  const skipped: Array<{ contender: string; reason: string }> = [];
  const runnable: Contender[] = [];
  for (const c of chosen) {
    const why = await c.unavailable({ pgUrl: o.pgUrl });
    if (why === undefined) runnable.push(c);
    else {
      skipped.push({ contender: c.name, reason: why });
      log(`[peers] skipping ${c.name}: ${why}`);
    }
  }
  const runs: PeerRun[] = [];
  const work = mkdtempSync(path.join(os.tmpdir(), 'confirma-peers-'));
  // Also when the benchmark is interrupted (its children are killed then: processes.ts).
  const removeWork = (): void => rmSync(work, { recursive: true, force: true });
  process.once('exit', removeWork);
  try {
    for (let round = 1; round <= o.rounds; round++) {
      const workload = makeWorkload(o.n, o.merchants, round);
      const receiver = await Receiver.start();
      try {
        for (const c of runnable) {
          const probe = (await rawCeiling(bytes, o.probeSeconds, o.probeConcurrency)).perSec;
          log(
            `\n[peers] round ${round}/${o.rounds}, ${c.name}: ${o.n} confirmations for ${o.merchants} merchants (raw ceiling just before: ${fmt(probe)}/s)`,
          );
          const dir = path.join(work, `${round}-${c.name}`);
          mkdirSync(dir, { recursive: true });
          try {
            const r = await c.run({ workload, receiver, dir, pgUrl: o.pgUrl, stallMs: o.stallSeconds * 1000, log });
            runs.push({ contender: c.name, round, rawProbePerSec: probe, ...r });
            log(
              `  ${fmt(r.perSec)}/s (${fmt((r.perSec / probe) * 100, 1)}% of the probe), ${r.lost} lost, ${r.duplicates} dup, ${fmt(r.cpuUsPerConfirmation)} µs CPU per confirmation`,
            );
          } catch (err) {
            const message = err instanceof Error ? err.message : String(err);
            runs.push({ contender: c.name, round, rawProbePerSec: probe, expected: o.n, lost: o.n, error: message });
            log(`  failed: ${message}`);
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        }
      } finally {
        await receiver.close();
      }
    }
  } finally {
    removeWork();
    process.off('exit', removeWork);
  }
  const summary = runnable.map((c) => summarise(c.name, runs, runs));
  const loadavg = os.loadavg();
  const report = {
    startedAt: startedAt.toISOString(),
    quick: o.quick,
    machine: {
      cpus: os.cpus().length,
      model: os.cpus()[0]?.model,
      memGB: os.totalmem() / 2 ** 30,
      node: process.version,
      loadavgAtEnd: loadavg,
    },
    payloadBytes: bytes,
    workload: { confirmations: o.n, merchants: o.merchants, rounds: o.rounds },
    settings: {
      handOver: { chunk: CHUNK, inFlight: IN_FLIGHT },
      attempts: ATTEMPTS,
      bullmq: { concurrency: BULLMQ_CONCURRENCY, removeOnComplete: true },
      graphile: {
        concurrency: o.graphileConcurrency,
        localQueueSize: o.graphileLocalQueue,
        completeJobBatchDelay: 0,
        failJobBatchDelay: 0,
      },
      probe: { seconds: o.probeSeconds, concurrency: o.probeConcurrency },
    },
    contenders: runnable.map((c) => ({ name: c.name, description: c.description })),
    skipped,
    summary,
    runs,
  };
  const lines = [
    '',
    `machine: ${report.machine.cpus} cpus, ${report.machine.model}, node ${process.version}, load ${loadavg.map((l) => l.toFixed(2)).join(' ')}; ` +
      `${o.n} confirmations for ${o.merchants} merchants, ${o.rounds} interleaved round${o.rounds === 1 ? '' : 's'}, medians`,
    '| contender | delivered/s (min–max) | of its raw probe | Confirma SQLite ÷ this (same round) | CPU µs/conf | cores | ingest s | lost | dup |',
    '|---|---|---|---|---|---|---|---|---|',
    ...summary.map(
      (s) =>
        `| ${s.contender}${s.failed > 0 ? ` (${s.failed} failed)` : ''} | ${fmt(s.medianPerSec)} (${fmt(s.minPerSec)}–${fmt(s.maxPerSec)}) | ${fmt(s.medianOfProbe * 100, 1)}% of ${fmt(s.medianProbePerSec)} | ${s.contender === 'confirma-sqlite' ? '1' : Number.isFinite(s.confirmaSqliteOverThis) ? `${fmt(s.confirmaSqliteOverThis, 2)}×` : '–'} | ${fmt(s.medianCpuUsPerConfirmation)} | ${fmt(s.medianCores, 2)} | ${fmt(s.medianIngestSec, 2)} | ${s.lost} | ${s.duplicates} |`,
    ),
    ...skipped.map((s) => `| ${s.contender} | skipped: ${s.reason} | | | | | | | |`),
  ];
  mkdirSync(o.out, { recursive: true });
  const file = path.join(o.out, `peers-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return { ok: runs.every((r) => r.error === undefined && r.lost === 0), file, table: lines.join('\n') };
}
