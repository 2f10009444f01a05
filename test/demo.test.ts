import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import { promisify } from 'node:util';
import { tempDir } from './helpers/engine.js';

const main = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

it('a short demo (500/s for 5 s, realistic fleet) ends with lost = 0 and exit code 0', async () => {
  const { dir, cleanup } = tempDir('confirma-demo-');
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [main, 'demo', '--duration', '5', '--rate', '500', '--merchants', '20', '--drain', '25', '--data', dir, '--json'],
      { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
    );
    const result = JSON.parse(stdout) as {
      load: { acknowledged: number; errors: number };
      verdict: { expected: number; delivered: number; lost: number; retryingMerchantDown: number };
      fleet: { badSignatures: number };
    };
    assert.equal(result.verdict.lost, 0);
    assert.ok(result.load.acknowledged >= 2_000, `acknowledged ${result.load.acknowledged}`);
    assert.equal(result.load.errors, 0);
    assert.ok(result.verdict.delivered > result.verdict.expected * 0.9, JSON.stringify(result.verdict));
    // One merchant of 20 is down in the realistic profile: its confirmations are counted as retrying.
    assert.ok(result.verdict.retryingMerchantDown > 0);
    assert.equal(result.fleet.badSignatures, 0);
    // Where to watch it live (the node's dashboard), told once as it starts.
    assert.match(stderr, /^dashboard http:\/\/127\.0\.0\.1:\d+\/$/m);
  } finally {
    cleanup();
  }
});
