/**
 * What the benchmark's harness costs on its own, next to the raw ceiling's server: the same undici
 * client (in this process) POSTs signed, confirmation-sized bodies with a fresh webhook-id each,
 * 128 at a time, first to the raw ceiling's `node:http` server, then to the merchant fleet
 * (`instant`: it verifies every signature, parses the body and keeps the ledger), each in its own
 * process; the CPU each server process uses is read from /proc over the measured window. The
 * fleet's CPU per request is a floor under what (b) and (c) can reach on a machine whose cores the
 * fleet shares with the node (docs/benchmarks.md, "Targets").
 *
 * Usage: node dist/bench/harness-floor.js [--seconds 6] [--out <dir>]. Prints a table and writes
 * `<out>/harness-floor-<time>.json` (default out: bench/results).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { newId } from '../src/domain/ids.js';
import { standardBody } from '../src/domain/payload.js';
import { signedHeaders } from '../src/signing/standard-webhooks.js';
import { fakeTransaction } from '../src/sim/fake.js';
import { sampleProc } from '../src/sim/proc-stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SECRET = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;
const CONCURRENCY = 128;

interface Measured {
  readonly server: string;
  readonly requestsPerSec: number;
  readonly serverCpuUsPerRequest: number;
  readonly serverCores: number;
  readonly requests: number;
  readonly exit: unknown;
}

function args(argv: string[]): { seconds: number; out: string } {
  const a = { seconds: 6, out: fileURLToPath(new URL('../../bench/results/', import.meta.url)) };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--seconds') a.seconds = Number(argv[++i]);
    else if (argv[i] === '--out') a.out = argv[++i] as string;
    else if (argv[i] === '--help') {
      process.stdout.write('Usage: node dist/bench/harness-floor.js [--seconds <n>] [--out <dir>]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!(a.seconds >= 2)) throw new Error('--seconds must be at least 2');
  return a;
}

async function startServer(
  script: string,
  extra: string[],
): Promise<{ child: ChildProcess; port: number; lines: AsyncIterator<string> }> {
  const child = spawn(process.execPath, [path.join(here, script), ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await lines.next();
  return { child, port: (JSON.parse(String(first.value)) as { port: number }).port, lines };
}

/** One signed request body and its headers, as a node would send it (a fresh id each). */
function request(): { body: string; headers: Record<string, string> } {
  const now = Date.now();
  const msgId = newId('msg');
  const body = standardBody(
    msgId,
    1,
    'transaction.approved',
    { ...fakeTransaction('mer_0123456789abcdefghijklmn', 'ord-1', 0), id: newId('tx'), createdAt: now, updatedAt: now },
    now,
  );
  return {
    body,
    headers: { 'content-type': 'application/json', ...signedHeaders([SECRET], msgId, Math.floor(now / 1000), body) },
  };
}

async function measure(server: string, script: string, extra: string[], urlPath: string, seconds: number): Promise<Measured> {
  const { child, port, lines } = await startServer(script, extra);
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: CONCURRENCY });
  const end = Date.now() + seconds * 1000;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (Date.now() < end) {
      const { body, headers } = request();
      const res = await pool.request({ path: urlPath, method: 'POST', headers, body });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`${server} answered ${res.statusCode}`);
      done++;
    }
  };
  const workers = Promise.all(Array.from({ length: CONCURRENCY }, worker));
  // The window: after a second of warm-up (JIT, connections), until half a second before the end.
  await new Promise((r) => setTimeout(r, 1_000));
  const s0 = sampleProc(child.pid as number);
  const t0 = performance.now();
  const n0 = done;
  await new Promise((r) => setTimeout(r, (seconds - 1.5) * 1000));
  const s1 = sampleProc(child.pid as number);
  const wall = (performance.now() - t0) / 1000;
  const n = done - n0;
  await workers;
  await pool.close();
  child.kill('SIGTERM');
  const last = await lines.next();
  const cpu = (s1?.cpuSec ?? Number.NaN) - (s0?.cpuSec ?? Number.NaN);
  return {
    server,
    requestsPerSec: n / wall,
    serverCpuUsPerRequest: (cpu * 1e6) / n,
    serverCores: cpu / wall,
    requests: n,
    exit: last.done === true ? undefined : JSON.parse(String(last.value)),
  };
}

const { seconds, out } = args(process.argv.slice(2));
const rows = [
  await measure('raw node:http server', 'raw-server.js', [], '/', seconds),
  await measure('fleet, instant (verifies, ledger)', 'fleet-server.js', ['50', SECRET], '/m/3', seconds),
];
const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const lines = [
  `machine: ${os.cpus().length} cpus, ${os.cpus()[0]?.model}, node ${process.version}; client: undici, ${CONCURRENCY} in flight, signed bodies, in this process`,
  '| server | requests/s | server CPU µs/request | server cores | cores it needs at 15,000/s |',
  '|---|---|---|---|---|',
  ...rows.map(
    (r) =>
      `| ${r.server} | ${fmt(r.requestsPerSec)} | ${fmt(r.serverCpuUsPerRequest)} | ${fmt(r.serverCores, 2)} | ${fmt((r.serverCpuUsPerRequest * 15_000) / 1e6, 2)} |`,
  ),
];
process.stdout.write(`${lines.join('\n')}\n`);
mkdirSync(out, { recursive: true });
const file = path.join(out, `harness-floor-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  file,
  `${JSON.stringify({ startedAt: new Date().toISOString(), seconds, concurrency: CONCURRENCY, machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version }, rows }, null, 2)}\n`,
);
process.stdout.write(`wrote ${file}\n`);
