/**
 * The SQLite store alone, without HTTP: how much each hot-path call costs per confirmation.
 * Ingests N new transactions in batches (the first half claimed at insert, as a node that keeps up
 * does; the second half left pending), claims the pending half through the per-merchant index (as
 * a node working through a backlog does), then records one delivered outcome for each, on a fresh
 * file in a temporary folder. Prints wall time and CPU per operation. Used to measure store-level levers before and
 * after (docs/benchmarks.md); the end-to-end figures come from `run.ts`.
 *
 * Usage: node dist/bench/store-micro.js [transactions=40000] [batch=500]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Claim } from '../src/domain/confirmation.js';
import { newId } from '../src/domain/ids.js';
import { fakeTransaction } from '../src/sim/fake.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { IngestOp } from '../src/store/store.js';

const total = Number(process.argv[2] ?? 40_000);
const batch = Number(process.argv[3] ?? 500);
const dir = mkdtempSync(path.join(os.tmpdir(), 'confirma-store-micro-'));
try {
  const store = new SqliteStore({ file: path.join(dir, 'micro.db') });
  await store.migrate();
  const merchants: string[] = [];
  for (let i = 0; i < 50; i++) {
    const id = newId('mer');
    await store.createMerchant(
      {
        id,
        name: `m${i}`,
        url: 'https://example.com/hook',
        format: 'standard',
        maxInFlight: null,
        timeoutMs: null,
        retrySchedule: null,
        epayco: null,
      },
      `whsec_${'a'.repeat(32)}`,
      { id: newId('key'), hash: `hash-${i}`, prefix: 'cfm_mk_x' },
    );
    merchants.push(id);
  }
  // The ops are built before timing: only the store's work is measured.
  const batches: IngestOp[][] = [];
  for (let i = 0; i < total; i += batch) {
    const ops: IngestOp[] = [];
    for (let j = i; j < Math.min(i + batch, total); j++) {
      const merchantId = merchants[j % merchants.length] as string;
      ops.push({
        kind: 'create',
        scope: { kind: 'admin' },
        tx: { id: newId('tx'), ...fakeTransaction(merchantId, `ord-${j}`, 0) },
      });
    }
    batches.push(ops);
  }
  const measure = async (name: string, work: () => Promise<void>, ops = total): Promise<void> => {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await work();
    const cpu = process.cpuUsage(cpu0);
    const wall = ((performance.now() - t0) * 1000) / ops;
    process.stdout.write(
      `${name.padEnd(8)} wall ${wall.toFixed(1)} µs/op   cpu ${((cpu.user + cpu.system) / ops).toFixed(1)} µs/op   (${ops} ops)\n`,
    );
  };
  const claims: Claim[] = [];
  // The first half is claimed at insert (a node keeping up); the second half is left pending and
  // claimed afterwards through the per-merchant index (a node working through a backlog).
  const half = Math.floor(batches.length / 2);
  await measure('ingest', async () => {
    for (const [i, ops] of batches.entries()) {
      const claimer = i < half ? { leaseMs: 60_000, take: () => true } : undefined;
      const results = await store.ingest(ops, Date.now(), claimer);
      for (const r of results) if (r.ok && r.claim !== undefined) claims.push(r.claim);
    }
  });
  const claimedAtInsert = claims.length;
  await measure(
    'claim',
    async () => {
      for (;;) {
        const got = await store.claimForMerchants(
          merchants.map((merchantId) => ({ merchantId, limit: 10 })),
          Date.now(),
          60_000,
        );
        if (got.length === 0) break;
        claims.push(...got);
      }
    },
    total - claimedAtInsert,
  );
  await measure('outcome', async () => {
    for (let i = 0; i < claims.length; i += batch) {
      const now = Date.now();
      await store.recordOutcomes(
        claims.slice(i, i + batch).map((claim) => ({
          claim,
          outcome: { kind: 'delivered' as const },
          attempt: { ok: true, statusCode: 200, durationMs: 3, startedAt: now },
        })),
        now,
      );
    }
  });
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
