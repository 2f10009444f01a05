/**
 * The raw ceiling shared by every benchmark program: undici POSTs of a confirmation-sized body to
 * a minimal node:http server (bench/raw-client.ts → bench/raw-server.ts), each in its own process.
 * This machine's speed drifts by a factor of two within minutes, so a rate is only read against
 * a probe of this ceiling taken next to it.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { standardBody } from '../src/domain/payload.js';
import { fakeTransaction } from '../src/sim/fake.js';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface RawCeiling {
  readonly perSec: number;
  readonly requests: number;
  readonly errors: number;
}

/** The size of a sample confirmation body, so the raw ceiling posts what Confirma sends. */
export function sampleBodyBytes(): number {
  const t = fakeTransaction('mer_0123456789abcdefghijklmn', 'ord-mhx3k2-123456', 0);
  const now = Date.now();
  const body = standardBody(
    'cnf_0123456789abcdefghijklmn',
    1,
    'transaction.approved',
    {
      ...t,
      id: 'tx_0123456789abcdefghijklmn',
      createdAt: now,
      updatedAt: now,
    },
    now,
  );
  return Buffer.byteLength(body);
}

/** Runs the raw client against the raw server for `seconds`, `concurrency` requests in flight. */
export async function rawCeiling(bytes: number, seconds: number, concurrency: number): Promise<RawCeiling> {
  const server = spawn(process.execPath, [path.join(here, 'raw-server.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: server.stdout });
  const first = await new Promise<string>((resolve) => lines.once('line', resolve));
  const { port } = JSON.parse(first) as { port: number };
  const client = spawn(
    process.execPath,
    [path.join(here, 'raw-client.js'), `http://127.0.0.1:${port}`, String(bytes), String(seconds), String(concurrency)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  client.stdout.on('data', (c: Buffer) => (out += c.toString()));
  await new Promise((resolve) => client.once('exit', resolve));
  server.kill('SIGTERM');
  await new Promise((resolve) => server.once('exit', resolve));
  return JSON.parse(out.trim()) as RawCeiling;
}
