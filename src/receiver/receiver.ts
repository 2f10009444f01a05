import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyEpaycoSignature } from '../formats/epayco.js';
import { secretKeyBytes, verifyWebhook } from '../signing/standard-webhooks.js';

/**
 * The reference merchant endpoint: what a merchant's confirmation URL should do. It verifies the
 * Standard Webhooks signature and timestamp, deduplicates on `webhook-id` (Confirma delivers at
 * least once, so a retry after a lost answer must be harmless), answers 200 fast, and logs one
 * line per request without customer data or the secret. Used by the CLI, the demo and the tests.
 *
 * With `epayco` credentials it also understands the `epayco` format: a form body must carry an
 * `x_signature` that it recomputes from `p_cust_id_cliente` and `p_key`, the way merchant plugins
 * written for the region's gateways do, or it answers 401 `invalid_x_signature`.
 */

/** Largest body read; past it the answer is 413. */
const MAX_BODY_BYTES = 1024 * 1024;
/** How long close() waits for requests in progress before cutting their connections. */
const CLOSE_GRACE_MS = 5_000;

/** Options of {@link startReceiver}. */
export interface ReceiverOptions {
  /** Port to listen on; 0 picks a free one (read it back from `Receiver.port`). */
  port: number;
  /** Interface to bind. Default `127.0.0.1`. */
  host?: string;
  /** The merchant's secret, or several during a rotation (any one may sign). */
  secret: string | string[];
  /** Path that takes confirmations. Default `/confirmation`. */
  path?: string;
  /** Where each log line goes. Default stdout. */
  log?: (line: string) => void;
  /** Allowed clock distance for `webhook-timestamp`, in seconds. Default 300. */
  toleranceSec?: number;
  /**
   * Most ids the dedup ledger keeps; past it the oldest are forgotten. Default: no limit, which
   * is right for tests; a long run at high rates should set one.
   */
  ledgerLimit?: number;
  /** The merchant's ePayco credentials: form bodies must then carry a valid `x_signature`. */
  epayco?: { custId: string; pKey: string };
}

/** One accepted confirmation in the dedup ledger. */
export interface ReceivedConfirmation {
  /** When it was first accepted, in ms since the epoch. */
  receivedAt: number;
  /** The body exactly as received (UTF-8). */
  body: string;
}

/** A running receiver. */
export interface Receiver {
  /** Full URL of the confirmation path, e.g. `http://127.0.0.1:9000/confirmation`. */
  url: string;
  /** The port actually bound. */
  port: number;
  /** Dedup ledger: accepted confirmations by `webhook-id`. */
  received: Map<string, ReceivedConfirmation>;
  /** Requests that carried an id already in the ledger (answered 200, not recorded again). */
  duplicates: number;
  /** Requests answered 401 (bad or missing signature, timestamp out of tolerance). */
  rejected: number;
  /** Stops listening and resolves once open connections have ended. */
  close(): Promise<void>;
}

/** Starts the reference receiver; resolves once it listens. */
export async function startReceiver(opts: ReceiverOptions): Promise<Receiver> {
  const host = opts.host ?? '127.0.0.1';
  const path = opts.path ?? '/confirmation';
  const log = opts.log ?? ((line: string) => void process.stdout.write(line + '\n'));
  const secrets = typeof opts.secret === 'string' ? [opts.secret] : [...opts.secret];
  const ledgerLimit = opts.ledgerLimit ?? Infinity;
  if (secrets.length === 0) throw new TypeError('startReceiver needs at least one secret');
  // Fail at start, not on the first request, when a secret is malformed.
  for (const secret of secrets) secretKeyBytes(secret);
  let closing = false;

  const receiver: Receiver = {
    url: '',
    port: 0,
    received: new Map(),
    duplicates: 0,
    rejected: 0,
    close: () => close(),
  };

  function onConfirmation(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const verdict = verifyWebhook(secrets, req.headers, body, {
      ...(opts.toleranceSec === undefined ? {} : { toleranceSec: opts.toleranceSec }),
    });
    if (!verdict.ok) {
      receiver.rejected += 1;
      log(`${new Date().toISOString()} rejected ${safe(req.headers['webhook-id'])} ${verdict.reason}`);
      reply(res, 401, { ok: false, reason: verdict.reason });
      return;
    }
    const text = body.toString('utf8');
    const form = isForm(req.headers['content-type']);
    if (form && opts.epayco !== undefined && !verifyEpaycoSignature(opts.epayco.custId, opts.epayco.pKey, text)) {
      receiver.rejected += 1;
      log(`${new Date().toISOString()} rejected ${safe(verdict.msgId)} invalid_x_signature`);
      reply(res, 401, { ok: false, reason: 'invalid_x_signature' });
      return;
    }
    const summary = form ? summarizeForm(text) : summarize(text);
    if (receiver.received.has(verdict.msgId)) {
      receiver.duplicates += 1;
      log(`${new Date().toISOString()} duplicate ${safe(verdict.msgId)} ${summary}`);
      reply(res, 200, { ok: true, duplicate: true });
      return;
    }
    if (receiver.received.size >= ledgerLimit) {
      // Maps iterate in insertion order, so the first key is the oldest.
      const oldest = receiver.received.keys().next();
      if (oldest.done !== true) receiver.received.delete(oldest.value);
    }
    receiver.received.set(verdict.msgId, { receivedAt: Date.now(), body: text });
    log(`${new Date().toISOString()} accepted ${safe(verdict.msgId)} ${summary}`);
    reply(res, 200, { ok: true });
  }

  /** Answers; once closing, asks the client to drop the connection so close() can finish. */
  function reply(res: ServerResponse, status: number, body: object): void {
    if (closing) res.setHeader('connection', 'close');
    send(res, status, body);
  }

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (closing) res.setHeader('connection', 'close');
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const pathname = q === -1 ? url : url.slice(0, q);
    if (pathname === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return notAllowed(res, 'GET, HEAD');
      return send(res, 200, { ok: true });
    }
    if (pathname !== path) return send(res, 404, { ok: false, reason: 'not_found' });
    if (req.method !== 'POST') return notAllowed(res, 'POST');
    readBody(req, res, (body) => onConfirmation(req, res, body));
  }

  const server = createServer(onRequest);
  // A client that stops mid-request must not hold a socket forever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;

  /** Stops accepting, lets requests in progress finish, and cuts whatever is left after a grace. */
  function close(): Promise<void> {
    closing = true;
    return new Promise((resolve, reject) => {
      const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
      force.unref();
      server.close((err) => {
        clearTimeout(force);
        if (err) reject(err);
        else resolve();
      });
      server.closeIdleConnections();
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  receiver.port = port;
  receiver.url = `http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`;
  return receiver;
}

/**
 * Reads the whole body, at most {@link MAX_BODY_BYTES}. Past the cap it answers 413 at once and
 * discards the rest, so the client still reads the answer instead of a reset connection.
 */
function readBody(req: IncomingMessage, res: ServerResponse, done: (body: Buffer) => void): void {
  const declared = Number(req.headers['content-length']);
  if (declared > MAX_BODY_BYTES) {
    req.resume();
    return send(res, 413, { ok: false, reason: 'body_too_large' });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  req.on('data', (chunk: Buffer) => {
    if (tooLarge) return;
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      tooLarge = true;
      chunks.length = 0;
      send(res, 413, { ok: false, reason: 'body_too_large' });
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (!tooLarge) done(Buffer.concat(chunks, size));
  });
  // An aborted upload leaves nothing to answer; the socket is gone.
  req.on('error', () => {});
}

function send(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function notAllowed(res: ServerResponse, allow: string): void {
  res.setHeader('allow', allow);
  send(res, 405, { ok: false, reason: 'method_not_allowed' });
}

/**
 * `<type> tx=<transaction id>` from the body, read loosely: only these two fields are ever taken,
 * so customer data (`data.customer`) and amounts never reach the log.
 */
function summarize(body: string): string {
  let type: unknown;
  let txId: unknown;
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed === 'object' && parsed !== null) {
      const record = parsed as { type?: unknown; data?: unknown };
      type = record.type;
      if (typeof record.data === 'object' && record.data !== null) txId = (record.data as { id?: unknown }).id;
    }
  } catch {
    // Not JSON: still signed by the sender, so accepted; logged without type or id.
  }
  return `${safe(type)} tx=${safe(txId)}`;
}

function isForm(contentType: string | undefined): boolean {
  return contentType?.split(';')[0]?.trim().toLowerCase() === 'application/x-www-form-urlencoded';
}

/** `<x_transaction_state> tx=<x_ref_payco>` from an epayco form body; nothing else is read. */
function summarizeForm(body: string): string {
  const form = new URLSearchParams(body);
  return `${safe(form.get('x_transaction_state') ?? undefined)} tx=${safe(form.get('x_ref_payco') ?? undefined)}`;
}

/**
 * A value fit for one log line: strings of id-like characters only, at most 100 of them, so a
 * sender cannot forge extra lines or smuggle long text into the log. Anything else prints `-`.
 */
function safe(value: unknown): string {
  if (typeof value !== 'string' || value === '') return '-';
  const cleaned = value.replace(/[^A-Za-z0-9_.:@-]/g, '?');
  return cleaned.length > 100 ? `${cleaned.slice(0, 100)}…` : cleaned;
}
