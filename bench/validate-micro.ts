/**
 * What checking a request costs, without a store: a ~600-byte transaction and a 1,000-item batch,
 * (a) through the checks alone (JSON parse, the well-formed pass, the shape and the domain rules,
 * exactly what the routes run before they submit), and (b) through the whole Fastify route with
 * `inject` and an ingest that answers at once (auth, parsing, checks, handler, serialisation).
 * JSON.parse of the same bytes is measured in the same run as the floor, so results read as
 * ratios. Each case runs in several rounds, interleaved with the others, and the least CPU time
 * per call is reported: on a shared machine other work only ever adds to it. Prints a table and
 * writes bench/results/validate-micro-<time>.json.
 *
 * Usage: node dist/bench/validate-micro.js [seconds per case and round=1] [rounds=5]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { destination } from 'pino';
import { buildServer } from '../src/api/server.js';
import { SchemaValidator } from '../src/api/schema-validator.js';
import {
  BatchEnvelope,
  BatchItem,
  NewTransaction,
  type BatchItemBody,
  type NewTransactionBody,
} from '../src/api/schemas/transaction.js';
import { transactionInput } from '../src/api/transaction-input.js';
import { checkBody, checkItem } from '../src/api/well-formed.js';
import { loadConfig } from '../src/config.js';
import type { Transaction } from '../src/domain/transaction.js';
import type { GroupCommit } from '../src/ingest/group-commit.js';
import { createLogger } from '../src/observe/logger.js';
import type { IngestOp, IngestResult, Store } from '../src/store/store.js';

const seconds = Number(process.argv[2] ?? 1);
const rounds = Number(process.argv[3] ?? 5);
const ADMIN = 'b'.repeat(32);

/** A transaction of about 600 bytes of JSON: every field, a customer and some metadata. */
function transaction(i: number): Record<string, unknown> {
  return {
    id: `order-${String(i).padStart(8, '0')}`,
    merchantId: 'mer_01JBENCHMERCHANT00000000000',
    reference: `INV-2024-${String(i).padStart(8, '0')}`,
    amount: '125000.50',
    currency: 'COP',
    status: 'approved',
    customer: { name: 'María Fernanda Rodríguez Gómez', phone: '+57 300 123 4567' },
    metadata: {
      channel: 'PSE',
      bank: 'Bancolombia',
      installments: 1,
      gift: false,
      note: 'Entrega en portería, torre 3, apartamento 502. Llamar antes de subir; dejar con el vigilante si no hay nadie.',
      coupon: null,
      campaign: 'black-friday-2024',
      store: 'bogota-norte-017',
      cashier: 'caja-04',
      session: '9f1c2e7a-4b3d-4e8f-9a21-6c5d7e8f9a0b',
    },
  };
}

const single = JSON.stringify(transaction(0));
const batch = JSON.stringify({ transactions: Array.from({ length: 1000 }, (_, i) => transaction(i)) });

// --- (a) the checks alone: what the routes run before submitting ---

const validator = new SchemaValidator();
const checkTransaction = validator.check(NewTransaction);
const checkEnvelope = validator.check(BatchEnvelope);
const checkBatchItem = validator.check(BatchItem);

function checkSingle(text: string): unknown {
  const body: unknown = JSON.parse(text);
  checkBody(body);
  const refused = checkTransaction(body);
  if (refused !== undefined) throw refused;
  return transactionInput(body as NewTransactionBody);
}

function checkBatch(text: string): unknown[] {
  const body: unknown = JSON.parse(text);
  checkBody(body, 'transactions');
  const refused = checkEnvelope(body);
  if (refused !== undefined) throw refused;
  return (body as { transactions: unknown[] }).transactions.map((item, index) => {
    checkItem(item, 'transactions', index);
    const bad = checkBatchItem(item, ['transactions', String(index)]);
    if (bad !== undefined) throw bad;
    const { idempotencyKey: _key, ...tx } = item as BatchItemBody;
    return transactionInput(tx, `transactions.${index}`);
  });
}

interface Row {
  readonly name: string;
  /** Wall time per call. */
  readonly usPerOp: number;
  /** CPU time (user + system) per call: steadier than wall time on a shared machine. */
  readonly cpuUsPerOp: number;
  readonly ops: number;
}

/** Runs `work` for about `seconds` after a short warm-up; µs per call. */
async function measure(name: string, work: () => unknown): Promise<Row> {
  const warm = performance.now() + 300;
  while (performance.now() < warm) await work();
  let ops = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  while (performance.now() < until) {
    for (let i = 0; i < 10; i++) await work();
    ops += 10;
  }
  const cpu = process.cpuUsage(cpu0);
  return { name, usPerOp: ((performance.now() - t0) * 1000) / ops, cpuUsPerOp: (cpu.user + cpu.system) / ops, ops };
}

// --- (b) the whole route, with an ingest that answers at once ---

function fakeIngest(): GroupCommit<IngestOp, IngestResult> {
  return {
    submit: async (op: IngestOp): Promise<IngestResult> => {
      if (op.kind !== 'create') throw new Error('only creates here');
      const tx: Transaction = { ...op.tx, createdAt: 0, updatedAt: 0 };
      return { ok: true, httpStatus: 201, transaction: tx };
    },
  } as unknown as GroupCommit<IngestOp, IngestResult>;
}

const config = loadConfig({ CONFIRMA_ADMIN_KEY: ADMIN, CONFIRMA_RATE_LIMIT: '0' });
const app = buildServer({
  config,
  store: {} as Store,
  ingest: fakeIngest(),
  log: createLogger('silent', destination({ dest: '/dev/null', sync: true })),
});
await app.ready();
const headers = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
const inject = async (url: string, payload: string): Promise<void> => {
  const res = await app.inject({ method: 'POST', url, headers, payload });
  if (res.statusCode >= 300) throw new Error(`${url} answered ${res.statusCode}: ${res.body.slice(0, 300)}`);
};

const cases: Array<[string, () => unknown]> = [
  ['JSON.parse, one transaction (floor)', (): unknown => JSON.parse(single)],
  ['checks, one transaction', () => checkSingle(single)],
  ['JSON.parse, batch of 1000 (floor)', (): unknown => JSON.parse(batch)],
  ['checks, batch of 1000', () => checkBatch(batch)],
  ['route, POST /v1/transactions', () => inject('/v1/transactions', single)],
  ['route, POST /v1/transactions/batch (1000)', () => inject('/v1/transactions/batch', batch)],
];
const best = new Map<string, Row>();
for (let round = 0; round < rounds; round++) {
  for (const [name, work] of cases) {
    const row = await measure(name, work);
    const seen = best.get(name);
    if (seen === undefined || row.cpuUsPerOp < seen.cpuUsPerOp) best.set(name, row);
  }
}
const rows = cases.map(([name]) => best.get(name) as Row);
await app.close();

const floorOne = rows[0]!.cpuUsPerOp;
const floorBatch = rows[2]!.cpuUsPerOp;
process.stdout.write(`one transaction: ${Buffer.byteLength(single)} bytes; batch: ${Buffer.byteLength(batch)} bytes\n`);
process.stdout.write(
  `${'case'.padEnd(44)} ${'wall µs/op'.padStart(11)} ${'cpu µs/op'.padStart(10)} ${'× JSON.parse'.padStart(13)}\n`,
);
for (const r of rows) {
  const floor = r.name.includes('batch') ? floorBatch : floorOne;
  process.stdout.write(
    `${r.name.padEnd(44)} ${r.usPerOp.toFixed(1).padStart(11)} ${r.cpuUsPerOp.toFixed(1).padStart(10)} ${(r.cpuUsPerOp / floor).toFixed(2).padStart(13)}\n`,
  );
}
const out = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');
mkdirSync(out, { recursive: true });
const file = path.join(out, `validate-micro-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  file,
  JSON.stringify(
    {
      node: process.version,
      seconds,
      rounds,
      bytes: { single: Buffer.byteLength(single), batch: Buffer.byteLength(batch) },
      rows,
    },
    null,
    2,
  ),
);
process.stdout.write(`wrote ${file}\n`);
