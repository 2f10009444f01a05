import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { it } from 'node:test';
import { MerchantServer } from './helpers/merchant-server.js';
import { createWriteStream } from 'node:fs';
import { ADMIN_KEY, tempDir, testLogFile, txBody, waitFor } from './helpers/engine.js';

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** Starts `confirma start` as a child process and resolves with its base URL once it listens. */
async function startChild(dbPath: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [MAIN, 'start', '--port', '0', '--db', dbPath], {
    env: {
      ...process.env,
      CONFIRMA_ADMIN_KEY: ADMIN_KEY,
      CONFIRMA_ALLOW_PRIVATE_DESTINATIONS: 'loopback',
      CONFIRMA_ATTEMPT_TIMEOUT_MS: '1000',
      CONFIRMA_LEASE_MS: '3000',
      CONFIRMA_LOG_LEVEL: 'debug',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.pipe(createWriteStream(testLogFile('child')));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /"url":"(http:\/\/[^"]+)"/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`confirma start exited with ${code}: ${out}`)));
  });
  return { child, url };
}

async function call(url: string, method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url + route, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

it('kill -9 mid-delivery, restart on the same file: every acknowledged transaction is delivered', async () => {
  const { dir, cleanup } = tempDir();
  const dbPath = path.join(dir, 'confirma.db');
  const fleet = await new MerchantServer().listen();
  let first = await startChild(dbPath);
  try {
    const merchantIds: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await call(first.url, 'POST', '/v1/merchants', { name: `slow${i}`, url: fleet.url(`slow${i}`) });
      assert.equal(res.status, 201);
      // 50 ms per answer keeps plenty in flight when the process dies.
      fleet.merchant(`slow${i}`, res.body.secret, () => ({ kind: 'delay', ms: 50, status: 200 }));
      merchantIds.push(res.body.id);
    }
    const acknowledged = new Set<string>();
    for (let b = 0; b < 4; b++) {
      const res = await call(first.url, 'POST', '/v1/transactions/batch', {
        transactions: Array.from({ length: 500 }, (_, i) => txBody(merchantIds[i % 4]!)),
      });
      assert.equal(res.status, 200);
      for (const r of res.body.results) if (r.ok) acknowledged.add(r.transaction.id);
    }
    assert.equal(acknowledged.size, 2000);
    await waitFor('some deliveries', () => fleet.received.length >= 300, 20_000);
    first.child.kill('SIGKILL');
    await once(first.child, 'exit');
    const atKill = fleet.received.length;
    assert.ok(atKill < 2000, 'the kill happened mid-run');

    const second = await startChild(dbPath);
    first = second;
    const deliveredTx = (): Set<string> => new Set(fleet.received.map((r) => JSON.parse(r.body).data.id as string));
    await waitFor('every acknowledged transaction delivered', () => deliveredTx().size >= 2000, 60_000);
    const delivered = deliveredTx();
    assert.deepEqual(
      [...acknowledged].filter((id) => !delivered.has(id)),
      [],
    );
    // Duplicates may only repeat a confirmation that was in flight: same webhook-id, same body.
    const byTx = new Map<string, Set<string>>();
    for (const r of fleet.received) {
      const tx = JSON.parse(r.body).data.id as string;
      if (!byTx.has(tx)) byTx.set(tx, new Set());
      byTx.get(tx)!.add(`${r.id}|${r.body}`);
    }
    for (const [tx, variants] of byTx) assert.equal(variants.size, 1, `transaction ${tx} arrived with different ids or bodies`);
    assert.ok(fleet.received.every((r) => r.verified));
  } finally {
    first.child.kill('SIGTERM');
    await once(first.child, 'exit').catch(() => undefined);
    await fleet.close();
    cleanup();
  }
});

it('SIGTERM stops cleanly with exit code 0', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const { child, url } = await startChild(path.join(dir, 'c.db'));
    const health = await fetch(url + '/healthz');
    assert.equal(health.status, 200);
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
  } finally {
    cleanup();
  }
});
