/**
 * The peer benchmark's receiver: one process per round, shared by every contender of the round.
 * A lean merchant endpoint on node:http at `POST /m/<merchant index>`: it verifies every Standard
 * Webhooks signature itself (HMAC-SHA256 from node:crypto, deliberately not the project's code,
 * so a contender cannot pass by sharing a bug with it), counts unique `webhook-id`s, duplicates
 * and the transactions delivered, and answers 200.
 *
 * Driven over the IPC channel of `fork()`:
 *   → `{type:'expect', contender, secrets, transactions}`: fresh counts for the next contender;
 *     `secrets[i]` is merchant i's `whsec_…`, `transactions` the round's `[txId, merchant]` pairs;
 *   ← `{type:'listening', port}` once, `{type:'expecting'}` after each reset,
 *     `{type:'progress', …counts}` every second while requests arrive, and
 *     `{type:'complete', …counts}` once every expected transaction arrived at its merchant;
 *   → `{type:'report'}` ← `{type:'counts', …counts}`: the counts now.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ExpectMessage {
  readonly type: 'expect';
  readonly contender: string;
  readonly secrets: readonly string[];
  readonly transactions: ReadonlyArray<readonly [string, number]>;
}

export interface ReceiverCounts {
  readonly contender: string;
  readonly expected: number;
  /** Requests answered, whatever the outcome. */
  readonly requests: number;
  /** Distinct webhook-ids among the requests that verified. */
  readonly uniqueIds: number;
  /** Verified requests whose webhook-id had been seen already. */
  readonly duplicates: number;
  /** Distinct expected transactions delivered to their own merchant. */
  readonly transactions: number;
  /** Requests refused 401: missing headers, stale timestamp, or a signature that does not verify. */
  readonly badSignatures: number;
  /** Verified requests naming a transaction this round did not send, or at another merchant. */
  readonly unexpected: number;
  /** Epoch ms of the first request, and of the receipt that completed the last new transaction. */
  readonly firstAt: number | undefined;
  readonly lastNewAt: number | undefined;
}

const TOLERANCE_SEC = 300;
const DATA_ID = '"data":{"id":"';

let contender = '';
let keys: Buffer[] = [];
let merchantOf = new Map<string, number>();
let ids = new Set<string>();
let delivered = new Set<string>();
let requests = 0;
let duplicates = 0;
let badSignatures = 0;
let unexpected = 0;
let firstAt: number | undefined;
let lastNewAt: number | undefined;
let completeSent = false;
let dirty = false;

function counts(): ReceiverCounts {
  return {
    contender,
    expected: merchantOf.size,
    requests,
    uniqueIds: ids.size,
    duplicates,
    transactions: delivered.size,
    badSignatures,
    unexpected,
    firstAt,
    lastNewAt,
  };
}

function keyOf(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Whether some `v1,<base64>` entry of the header is the HMAC of `id.timestamp.body` under `key`. */
function verifies(key: Buffer, id: string, timestamp: string, signatures: string, body: Buffer): boolean {
  const expected = Buffer.from(createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest('base64'));
  let ok = false;
  for (const entry of signatures.split(' ')) {
    if (!entry.startsWith('v1,')) continue;
    const given = Buffer.from(entry.slice(3));
    if (given.length === expected.length && timingSafeEqual(given, expected)) ok = true;
  }
  return ok;
}

/** The transaction id of a confirmation body: its `data.id`, read without parsing the whole body. */
function transactionId(body: Buffer): string | undefined {
  const text = body.toString('utf8');
  const at = text.indexOf(DATA_ID);
  if (at !== -1) {
    const end = text.indexOf('"', at + DATA_ID.length);
    if (end !== -1) return text.slice(at + DATA_ID.length, end);
  }
  try {
    return (JSON.parse(text) as { data?: { id?: string } }).data?.id;
  } catch {
    return undefined;
  }
}

function handle(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
  requests++;
  dirty = true;
  firstAt ??= Date.now();
  const m = /^\/m\/(\d+)$/.exec(req.url ?? '');
  const key = m === null ? undefined : keys[Number(m[1])];
  const id = header(req, 'webhook-id');
  const timestamp = header(req, 'webhook-timestamp');
  const signatures = header(req, 'webhook-signature');
  if (
    req.method !== 'POST' ||
    key === undefined ||
    id === undefined ||
    timestamp === undefined ||
    signatures === undefined ||
    !/^\d{1,15}$/.test(timestamp) ||
    Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE_SEC ||
    !verifies(key, id, timestamp, signatures, body)
  ) {
    badSignatures++;
    res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_signature"}');
    return;
  }
  if (ids.has(id)) duplicates++;
  else ids.add(id);
  const tx = transactionId(body);
  if (tx === undefined || merchantOf.get(tx) !== Number(m![1])) unexpected++;
  else if (!delivered.has(tx)) {
    delivered.add(tx);
    lastNewAt = Date.now();
    if (delivered.size === merchantOf.size && !completeSent) {
      completeSent = true;
      process.send?.({ type: 'complete', ...counts() });
    }
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => handle(req, res, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
});
server.keepAliveTimeout = 65_000;

process.on('message', (msg: ExpectMessage | { type: 'report' }) => {
  if (msg.type === 'report') {
    process.send?.({ type: 'counts', ...counts() });
    return;
  }
  contender = msg.contender;
  keys = msg.secrets.map(keyOf);
  merchantOf = new Map(msg.transactions.map(([tx, m]) => [tx, m]));
  ids = new Set();
  delivered = new Set();
  requests = duplicates = badSignatures = unexpected = 0;
  firstAt = lastNewAt = undefined;
  completeSent = false;
  process.send?.({ type: 'expecting' });
});

setInterval(() => {
  if (!dirty) return;
  dirty = false;
  process.send?.({ type: 'progress', ...counts() });
}, 1_000).unref();

// The driver ends the round by disconnecting the channel.
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', 4096, () => {
  process.send?.({ type: 'listening', port: (server.address() as AddressInfo).port });
});
