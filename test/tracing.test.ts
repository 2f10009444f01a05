import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { MerchantServer } from './helpers/merchant-server.js';
import { startEngine, txBody, waitFor, type Engine } from './helpers/engine.js';

// A real OpenTelemetry SDK registered in this test process (each test file runs in its own), with
// an in-memory exporter: what an operator's SDK would receive.
const exporter = new InMemorySpanExporter();
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));

let engine: Engine;
let fleet: MerchantServer;
before(async () => {
  fleet = await new MerchantServer().listen();
  engine = await startEngine();
});
after(async () => {
  await engine.stop();
  await fleet.close();
});

it('traces commits and each delivery attempt, with ids and outcomes but no customer data, secret or URL path', async () => {
  // A URL holding a token in its query, as some merchants' do: the fleet knows the merchant by
  // the whole path and query.
  const name = 'traced?token=s3cr3t-in-url';
  const created = await engine.call('POST', '/v1/merchants', { name: 'traced', url: fleet.url(name), retrySchedule: [0, 1] });
  assert.equal(created.status, 201);
  // The first attempt gets a 500, the second a 200.
  fleet.merchant(name, created.body.secret, (n) => (n === 0 ? { kind: 'status', status: 500 } : { kind: 'status', status: 200 }));
  const tx = await engine.call(
    'POST',
    '/v1/transactions',
    txBody(created.body.id, { customer: { name: 'Valentina Ríos', phone: '+57 301 222 3344' } }),
  );
  assert.equal(tx.status, 201);
  // The merchant server keeps the answers it accepted: the 2xx of the second attempt.
  await waitFor('the second attempt to be delivered', () => fleet.deliveries(name).some((r) => r.verified), 15_000);
  await waitFor(
    'its outcome committed',
    () => exporter.getFinishedSpans().filter((s) => s.name === 'confirma.outcomes.commit').length >= 2,
    10_000,
  );

  const spans = exporter.getFinishedSpans();
  const commits = spans.filter((s) => s.name === 'confirma.ingest.commit');
  assert.ok(commits.some((s) => Number(s.attributes['confirma.ops']) >= 1));
  const attempts = spans
    .filter((s) => s.name === 'confirma.attempt')
    .sort((a, b) => Number(a.attributes['confirma.attempt']) - Number(b.attributes['confirma.attempt']));
  assert.equal(attempts.length, 2);
  const [first, second] = attempts;
  const read = await engine.call('GET', `/v1/transactions/${tx.body.id}`);
  const confirmationId = read.body.confirmations[0].id;
  for (const s of attempts) {
    assert.equal(s.attributes['confirma.confirmation_id'], confirmationId);
    assert.equal(s.attributes['confirma.merchant_id'], created.body.id);
    assert.equal(s.attributes['confirma.transaction_id'], tx.body.id);
    assert.equal(s.attributes['server.address'], `127.0.0.1:${fleet.port}`);
  }
  assert.deepEqual(
    [first!.attributes['http.response.status_code'], first!.attributes['confirma.outcome'], first!.status.code],
    [500, 'retry', 2],
  );
  assert.deepEqual(
    [second!.attributes['http.response.status_code'], second!.attributes['confirma.outcome'], second!.status.code],
    [200, 'delivered', 0],
  );
  assert.ok(
    second!.startTime[0] * 1e9 + second!.startTime[1] >= first!.endTime[0] * 1e9 + first!.endTime[1],
    'one after the other',
  );
  // Nothing a trace backend should not hold.
  const everything = JSON.stringify(
    spans.map((s) => ({ name: s.name, attributes: s.attributes, status: s.status, events: s.events })),
  );
  for (const secret of ['Valentina', 'Ríos', '3344', created.body.secret, created.body.apiKey, 's3cr3t-in-url', '/m/traced']) {
    assert.ok(!everything.includes(secret), `a span holds ${secret.slice(0, 12)}`);
  }
});
