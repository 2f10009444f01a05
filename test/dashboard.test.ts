import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CSP } from '../src/api/pages/pages.js';
import { MerchantServer } from './helpers/merchant-server.js';
import { startEngine, txBody, waitFor, type Engine } from './helpers/engine.js';

/**
 * The dashboard and the docs page (swagger-ui) in a real browser (Debian's chromium through
 * playwright-core): they load under their Content-Security-Policy without an error or a single
 * violation, and show what the node is doing and what the API is.
 * Without chromium they are skipped outside CI, and fail in CI (.ci/run installs it).
 */
const CHROMIUM = process.env.CONFIRMA_TEST_CHROMIUM ?? '/usr/bin/chromium';
const inCi = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
const skip = existsSync(CHROMIUM) || inCi ? false : `no browser at ${CHROMIUM} (apt-get install -y chromium) and CI is not set`;

describe('dashboard and docs page in chromium', { skip }, () => {
  let engine: Engine;
  let fleet: MerchantServer;
  let browser: Browser;
  const problems: string[] = [];

  before(async () => {
    fleet = await new MerchantServer().listen();
    engine = await startEngine({ CONFIRMA_ATTEMPT_TIMEOUT_MS: '60000', CONFIRMA_LEASE_MS: '120000' });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  });
  after(async () => {
    await browser?.close();
    await engine?.stop();
    await fleet?.close();
  });

  async function open(path: string): Promise<Page> {
    const page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`${path} console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`${path} page error: ${e.message}`));
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`${path} loaded ${r.url()}: ${r.status()}`);
    });
    // Chromium also logs a refusal to the console; the event names the directive and what it refused.
    await page.addInitScript({
      content:
        "document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));",
    });
    const res = await page.goto(engine.url + path);
    assert.equal(res?.status(), 200);
    assert.match(res?.headers()['content-security-policy'] ?? '', /script-src 'self'/);
    return page;
  }

  it('shows rates, open confirmations by state and totals, from /metrics, with no key', async () => {
    const created = await engine.call('POST', '/v1/merchants', { name: 'shop', url: fleet.url('shop') });
    assert.equal(created.status, 201);
    fleet.merchant('shop', created.body.secret);
    const down = await engine.call('POST', '/v1/merchants', { name: 'down', url: 'http://127.0.0.1:9/confirm' });
    assert.equal(down.status, 201);

    const page = await open('/');
    const text = async (id: string): Promise<string> => (await page.locator(`#${id}`).textContent()) ?? '';
    await waitFor('the ready pill', async () => (await text('ready')) === 'ready', 10_000, 100);

    // 40 for the healthy merchant, 5 for one whose port refuses: those stay open.
    const transactions = [
      ...Array.from({ length: 40 }, () => txBody(created.body.id)),
      ...Array.from({ length: 5 }, () => txBody(down.body.id)),
    ];
    assert.equal((await engine.call('POST', '/v1/transactions/batch', { transactions })).status, 200);
    await waitFor('40 deliveries', () => fleet.deliveries('shop').length >= 40);

    await waitFor(
      'the totals table to count 40 delivered attempts',
      async () => /attempts: delivered\s*40\b/.test((await page.locator('#totals').innerText()).replace(/,/g, '')),
      15_000,
      200,
    );
    await waitFor(
      'a rate above 0 in the chart',
      async () => {
        const points = (await page.locator('#line-delivered').getAttribute('points')) ?? '';
        return points.split(' ').some((p) => Number(p.split(',')[1]) < 118);
      },
      15_000,
      200,
    );
    // The five for the merchant that is down are counted as not delivered (the counts refresh every 5 s).
    await waitFor(
      '5 open confirmations shown',
      async () => {
        const shown = ['state-pending', 'state-inflight'].map(async (id) => Number((await text(id)).replace(/,/g, '')) || 0);
        const [pending, inflight] = await Promise.all(shown);
        return pending! + inflight! === 5;
      },
      20_000,
      250,
    );
    assert.equal(await text('state-dead'), '0');
    assert.match(await text('counts-age'), /^Across the whole store, read \d+ s ago/);
    assert.match(await page.locator('#totals').innerText(), /outcomes dropped \(lease lapsed\)\s*0/);
    assert.ok(await page.locator('#error').isHidden());
    // Nothing merchant-specific on the page.
    const html = await page.content();
    assert.ok(!html.includes(created.body.id) && !html.includes('shop'), 'no merchant id or name on the dashboard');
    await page.close();
    assert.deepEqual(problems, []);
  });

  it('/docs renders every operation of /openapi.json with swagger-ui, under the CSP, marking the ones that need a key', async () => {
    const page = await open('/docs');
    const headers = (await fetch(engine.url + '/docs')).headers;
    assert.equal(headers.get('content-security-policy'), CSP);
    assert.equal(headers.get('x-content-type-options'), 'nosniff');
    assert.equal(headers.get('referrer-policy'), 'no-referrer');
    const doc = (await engine.call('GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    const expected = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    await waitFor('the operations', async () => (await page.locator('.opblock').count()) === expected.length, 15_000, 100);
    const shown = await page
      .locator('.opblock')
      .evaluateAll((blocks) =>
        blocks.map(
          (b) =>
            `${b.querySelector('.opblock-summary-method')?.textContent} ${b.querySelector('.opblock-summary-path')?.getAttribute('data-path')}`,
        ),
      );
    assert.deepEqual(shown.sort(), expected.sort());
    // An operation behind a key shows the lock; a public one does not.
    const lock = (id: string) => page.locator(`#${id} .authorization__btn`).count();
    assert.equal(await lock('operations-health-health'), 0);
    assert.equal(await lock('operations-transactions-createTransaction'), 1);
    // Opening an operation shows its body schema and error answers, from the same document.
    await page.locator('#operations-transactions-createTransaction .opblock-summary').click();
    await waitFor(
      'the answers of createTransaction',
      async () => (await page.locator('#operations-transactions-createTransaction .response').count()) > 5,
      10_000,
      100,
    );
    const text = await page.locator('#operations-transactions-createTransaction').innerText();
    assert.match(text, /invalid_amount/);
    assert.match(text, /Idempotency-Key|idempotency-key/);
    await page.close();
    assert.deepEqual(problems, []);
  });

  // Last: it closes the engine's store.
  it('while the store is down: the last counts read, how old they are, and the rest still live', async () => {
    const page = await open('/');
    const text = async (id: string): Promise<string> => (await page.locator(`#${id}`).textContent()) ?? '';
    await waitFor('the counts read', async () => /^Across the whole store/.test(await text('counts-age')), 10_000, 100);
    await engine.app.store.close();
    await waitFor(
      'the store shown as not answering',
      async () => /^The store is not answering: these counts are from \d+ s ago\.$/.test(await text('counts-age')),
      20_000,
      250,
    );
    // The tiles keep the last counts the node read, as /metrics serves them.
    const served = await (await fetch(engine.url + '/metrics')).text();
    for (const state of ['waiting', 'pending', 'inflight', 'parked', 'dead']) {
      const n = new RegExp(`^confirma_confirmations\\{state="${state}"\\} (\\d+)$`, 'm').exec(served)?.[1];
      assert.ok(n !== undefined, state);
      assert.equal((await text(`state-${state}`)).replace(/,/g, ''), n, state);
    }
    assert.notEqual(await text('in-flight'), '–', "the node's own figures are still shown");
    assert.ok(await page.locator('#error').isHidden(), '/metrics kept answering');
    await waitFor('the pill says not ready', async () => (await text('ready')) === 'not ready', 10_000, 100);
    await page.close();
    // /readyz answers 503 now, as it should: the browser reports that fetch (and only that).
    const readyz503 = (p: string): boolean => /\/readyz: 503$/.test(p) || p.endsWith('status of 503 (Service Unavailable)');
    assert.deepEqual(
      problems.filter((p) => !readyz503(p)),
      [],
    );
  });
});
