import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import { promisify } from 'node:util';
import { tempDir } from './helpers/engine.js';

const bench = fileURLToPath(new URL('../bench/run.js', import.meta.url));

// Not a timed test: it only checks that the benchmark runs on a tiny size and writes its JSON.
it('bench --quick runs every part and writes its JSON', async () => {
  const { dir, cleanup } = tempDir('confirma-bench-test-');
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [bench, '--quick', '--out', dir], {
      timeout: 90_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    assert.match(stdout, /\| a raw undici → node:http \|/);
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    assert.equal(files.length, 1);
    const report = JSON.parse(readFileSync(path.join(dir, files[0]!), 'utf8'));
    assert.ok(report.rawCeiling.perSec > 0);
    assert.deepEqual(
      report.scenarios.map((s: { name: string }) => s.name),
      ['b-instant', 'c-realistic', 'd-realistic-2000'],
    );
    for (const s of report.scenarios) {
      assert.equal(s.lost, 0, s.name);
      assert.ok(s.enginePeakRssMB > 0, s.name);
      assert.ok(s.delivered > 0, s.name);
    }
    // (d) sets commit → answer against the merchants' own answer times (realistic: never 0).
    const d = report.scenarios.find((s: { name: string }) => s.name === 'd-realistic-2000');
    assert.ok(
      d.answeredMs.count > 0 && d.merchantOwnMs.p99 > 0 && d.answeredMs.p99 >= d.merchantOwnMs.p50,
      JSON.stringify(d.answeredMs),
    );
    assert.match(stdout, /\| answer p99 \/ merchant p99 ms \|/);
  } finally {
    cleanup();
  }
});

it('the store micro-benchmark runs on a tiny size and reports each call', async () => {
  const micro = fileURLToPath(new URL('../bench/store-micro.js', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [micro, '1000', '100'], { timeout: 60_000 });
  // Half the rows are claimed at insert, the other half by the claim phase; every row gets an outcome.
  assert.match(stdout, /^ingest +wall [\d.]+ µs\/op +cpu [\d.]+ µs\/op +\(1000 ops\)$/m);
  assert.match(stdout, /^claim +wall [\d.]+ µs\/op +cpu [\d.]+ µs\/op +\(500 ops\)$/m);
  assert.match(stdout, /^outcome +wall [\d.]+ µs\/op +cpu [\d.]+ µs\/op +\(1000 ops\)$/m);
});

// Not a timed test either: the harness-floor benchmark runs briefly and writes what it measured.
it('bench/harness-floor measures the raw server and the fleet, every request signed and accepted', async () => {
  const { dir, cleanup } = tempDir('confirma-floor-test-');
  try {
    const floor = fileURLToPath(new URL('../bench/harness-floor.js', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [floor, '--seconds', '2', '--out', dir], { timeout: 60_000 });
    assert.match(stdout, /\| fleet, instant \(verifies, ledger\) \| [\d,]+ \| [\d,]+ \|/);
    const files = readdirSync(dir).filter((f) => f.startsWith('harness-floor-') && f.endsWith('.json'));
    assert.equal(files.length, 1);
    const report = JSON.parse(readFileSync(path.join(dir, files[0]!), 'utf8'));
    const [raw, fleet] = report.rows;
    assert.ok(raw.requests > 0 && raw.serverCpuUsPerRequest > 0);
    assert.ok(fleet.requests > 0 && fleet.serverCpuUsPerRequest > 0);
    // Every request the client finished was verified and went into the ledger once.
    assert.equal(fleet.exit.badSignatures, 0);
    assert.equal(fleet.exit.duplicates, 0);
    assert.ok(fleet.exit.accepted >= fleet.requests);
  } finally {
    cleanup();
  }
});
