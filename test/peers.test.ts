import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import { promisify } from 'node:util';
import { tempDir } from './helpers/engine.js';
import { PG_URL, pgSkip } from './helpers/pg.js';

const bench = fileURLToPath(new URL('../bench/run.js', import.meta.url));
const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

/** `false` when the peer benchmark can run every contender here, else why the test is skipped. */
async function peersSkip(): Promise<string | false> {
  const ci = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
  const noRedis = await access(REDIS_SERVER, constants.X_OK).then(
    () => false,
    () => true,
  );
  if (noRedis && !ci) return `${REDIS_SERVER} is not installed and CI is not set`;
  const pg = await pgSkip();
  if (pg !== false) return pg;
  return false;
}

const CONTENDERS = ['confirma-sqlite', 'bullmq-mem', 'bullmq-aof', 'graphile', 'confirma-pg'];

// Not a timed test: one tiny round of every contender, through `bench/run.js --peers`, checking that
// the table and the JSON come out and that every contender delivered every confirmation, signed.
it(
  'bench --peers --quick runs every contender once, each delivering every confirmation',
  { skip: await peersSkip() },
  async () => {
    const { dir, cleanup } = tempDir('confirma-peers-test-');
    try {
      const { stdout } = await promisify(execFile)(process.execPath, [bench, '--peers', '--quick', '--n', '500', '--out', dir], {
        timeout: 120_000,
        maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, CONFIRMA_BENCH_DATABASE_URL: PG_URL },
      });
      assert.match(
        stdout,
        /\| contender \| delivered\/s \(min–max\) \| of its raw probe \| Confirma SQLite ÷ this \(same round\) \|/,
      );
      for (const name of CONTENDERS) assert.match(stdout, new RegExp(`^\\| ${name} \\| [\\d,]+ \\(`, 'm'), name);
      const files = readdirSync(dir).filter((f) => f.startsWith('peers-') && f.endsWith('.json'));
      assert.equal(files.length, 1);
      const report = JSON.parse(readFileSync(path.join(dir, files[0]!), 'utf8'));
      assert.deepEqual(report.skipped, []);
      assert.deepEqual(
        report.summary.map((s: { contender: string }) => s.contender),
        CONTENDERS,
      );
      assert.equal(report.runs.length, CONTENDERS.length);
      for (const r of report.runs) {
        assert.equal(r.error, undefined, `${r.contender}: ${r.error}`);
        assert.equal(r.expected, 500, r.contender);
        assert.equal(r.delivered, 500, r.contender);
        assert.equal(r.lost, 0, r.contender);
        assert.equal(r.uniqueIds, 500, r.contender);
        assert.equal(r.badSignatures, 0, r.contender);
        assert.equal(r.unexpected, 0, r.contender);
        assert.ok(r.perSec > 0 && r.rawProbePerSec > 0, r.contender);
        assert.ok(r.cpuSec > 0 && r.cpuUsPerConfirmation > 0, r.contender);
      }
      // PostgreSQL contenders count their backends' CPU too: at least one was found for each.
      for (const name of ['graphile', 'confirma-pg']) {
        assert.ok(report.runs.find((r: { contender: string }) => r.contender === name).pgBackends > 0, name);
      }
      const ratio = report.summary.find((s: { contender: string }) => s.contender === 'bullmq-mem').confirmaSqliteOverThis;
      assert.ok(Number.isFinite(ratio) && ratio > 0, String(ratio));
    } finally {
      cleanup();
    }
  },
);

// The receiver is the benchmark's instrument: it must refuse what does not verify and count a
// webhook-id it saw before as a duplicate, not as a delivery.
it('the peer receiver verifies signatures itself, counts duplicates, and completes on the last transaction', async () => {
  const { Receiver } = await import('../bench/peers/receiver-link.js');
  const { confirmationBody } = await import('../bench/peers/task.js');
  const { createHmac } = await import('node:crypto');
  const { request } = await import('undici');
  const secret = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;
  const receiver = await Receiver.start();
  try {
    const tx = {
      id: 'tx-1',
      merchant: 0,
      reference: 'ord-1',
      amount: '10.00',
      currency: 'COP' as const,
      status: 'approved' as const,
      customer: { name: 'Ana', phone: '+57 300 000 0000' },
      metadata: { channel: 'PSE' },
    };
    await receiver.expect('probe', [secret], { merchants: 1, transactions: [tx] });
    const body = confirmationBody({ msgId: 'msg_1', merchant: 0, at: Date.now(), tx: { ...tx, merchantId: 'mer_1' } });
    const post = async (signWith: string): Promise<number> => {
      const ts = Math.floor(Date.now() / 1000);
      const sig = createHmac('sha256', Buffer.from(signWith.slice(6), 'base64'))
        .update(`msg_1.${ts}.`)
        .update(body)
        .digest('base64');
      const res = await request(receiver.url(0), {
        method: 'POST',
        headers: { 'webhook-id': 'msg_1', 'webhook-timestamp': String(ts), 'webhook-signature': `v1,${sig}` },
        body,
      });
      await res.body.dump();
      return res.statusCode;
    };
    const done = receiver.waitComplete(10_000);
    assert.equal(await post(`whsec_${Buffer.alloc(32, 4).toString('base64')}`), 401);
    assert.equal(await post(secret), 200);
    const complete = await done;
    assert.equal(complete.transactions, 1);
    assert.equal(await post(secret), 200);
    const counts = await receiver.counts();
    assert.deepEqual(
      {
        requests: counts.requests,
        uniqueIds: counts.uniqueIds,
        duplicates: counts.duplicates,
        transactions: counts.transactions,
        badSignatures: counts.badSignatures,
        unexpected: counts.unexpected,
      },
      { requests: 3, uniqueIds: 1, duplicates: 1, transactions: 1, badSignatures: 1, unexpected: 0 },
    );
  } finally {
    await receiver.close();
  }
});
