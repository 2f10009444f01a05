import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook } from '../signing/standard-webhooks.js';
import { Histogram } from './histogram.js';
import { answer, merchantMode, profile, type MerchantMode, type Profile, type ProfileName } from './profiles.js';

/**
 * The merchant fleet simulator: N merchants on one loopback `node:http` server, merchant i at path
 * `/m/<i>` (a merchant whose mode is `refused` gets a URL on a closed port instead). Every request
 * is verified with our `verifyWebhook` against the merchant's secret; every verified request
 * answered 2xx goes into the ledger: webhook-id → first receive time, transaction id and seq (from
 * the body). Repeats of an id are counted as duplicates, never stored twice.
 *
 * Memory is bounded apart from the ledger, which holds one small entry per id (it is what proves
 * nothing was lost): latencies go into a fixed-size histogram, hung requests are held only until
 * the engine gives up on them.
 *
 * A control API under `/_fleet/` lets a fleet in another process be used by `confirma load` and
 * the benchmark: `GET /_fleet/merchants/:i` (its URL and mode), `PUT /_fleet/merchants/:i`
 * `{secret}`, `GET /_fleet/stats`, `GET /_fleet/ledger` (NDJSON `[id, txId, seq, at]`).
 */

export interface FleetOptions {
  readonly merchants: number;
  readonly profile: ProfileName;
  /** Port to listen on (0 = any free one). */
  readonly port?: number;
  /** Random source, for tests. */
  readonly random?: () => number;
}

/** One accepted webhook-id. */
export interface LedgerEntry {
  /** Epoch ms the request arrived (body read). */
  readonly at: number;
  /** The transaction id and confirmation seq, from the body. */
  readonly tx: string;
  readonly seq: number;
}

export interface FleetStats {
  readonly profile: ProfileName;
  readonly merchants: number;
  /** Requests whose body was read. */
  readonly requests: number;
  /** Distinct webhook-ids accepted (the ledger's size). */
  readonly accepted: number;
  /** Accepted again after the first time. */
  readonly duplicates: number;
  readonly badSignatures: number;
  /** Requests for a merchant without a registered secret. */
  readonly unknown: number;
  /** Answers by kind (ok, error, hang, drip, reset, throttle, gone, down). */
  readonly answers: Readonly<Record<string, number>>;
  /** Requests being held open right now. */
  readonly hanging: number;
  /** Commit (the body's timestamp) → receipt of the accepted attempt, ms, over accepted ids (retries included). */
  readonly latency: Percentiles;
  /**
   * From the moment a confirmation could be sent to the arrival of its first attempt, whatever it
   * was answered, for confirmations committed from `steadyFrom` on: the delay the engine itself
   * adds. It could be sent once committed and, for a transaction's later confirmation (per-
   * transaction order), once the merchant had answered the one before 2xx, whichever came later:
   * so neither the merchant's answer time nor the retry schedule is in it.
   */
  readonly firstArrival: Percentiles;
  /**
   * The same start → the merchant's answer (arrival plus the answer time its profile drew), for
   * first attempts answered 2xx at once (`ok`): what the merchant experiences end to end. Set
   * against `ownLatency` (the answer times alone, same requests), its p99 shows what the engine
   * adds at the merchants' own p99.
   */
  readonly answered: Percentiles;
  /** The merchant's own answer time for the requests in `answered`. */
  readonly ownLatency: Percentiles;
}

export interface Percentiles {
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly count: number;
}

function percentiles(h: Histogram): Percentiles {
  return { p50: h.quantile(0.5), p99: h.quantile(0.99), p999: h.quantile(0.999), max: h.max, count: h.count };
}

interface MerchantSlot {
  readonly mode: MerchantMode;
  secret: string | undefined;
}

const CONTROL = '/_fleet/';

export class Fleet {
  readonly profile: Profile;
  readonly server: http.Server;
  readonly latency = new Histogram();
  readonly firstArrival = new Histogram();
  readonly answered = new Histogram();
  readonly ownLatency = new Histogram();
  /** Commit time from which first arrivals are measured (a run sets it past its warm-up). */
  steadyFrom = 0;
  /** Ids seen in attempts that were not accepted: their next attempt is not a first arrival. */
  private readonly seenUnaccepted = new Set<string>();
  /**
   * Transaction id → when its latest confirmation was answered 2xx, for the ready time of the
   * next one; two generations swapped every `ANSWERS_KEPT_MS`, so memory stays bounded.
   */
  private answeredTx = new Map<string, number>();
  private answeredTxOld = new Map<string, number>();
  private answeredTxSince = Date.now();
  private readonly ledger = new Map<string, LedgerEntry>();
  private readonly slots: MerchantSlot[];
  private readonly hung = new Set<http.ServerResponse>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly random: () => number;
  private readonly answers: Record<string, number> = {};
  private requests = 0;
  private duplicates = 0;
  private badSignatures = 0;
  private unknown = 0;
  port = 0;
  /** A port nothing listens on: `refused` merchants point there. */
  private closedPort = 0;

  constructor(private readonly opts: FleetOptions) {
    this.profile = profile(opts.profile);
    this.random = opts.random ?? Math.random;
    this.slots = Array.from({ length: opts.merchants }, (_, i) => ({
      mode: merchantMode(this.profile, i, opts.merchants),
      secret: undefined,
    }));
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 65_000;
    this.server.headersTimeout = 66_000;
    this.server.requestTimeout = 0;
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(this.opts.port ?? 0, '127.0.0.1', 4096, resolve));
    this.port = (this.server.address() as AddressInfo).port;
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    this.closedPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    return this;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get size(): number {
    return this.slots.length;
  }

  /** Merchant i's confirmation URL. */
  url(i: number): string {
    const slot = this.slot(i);
    const port = slot.mode === 'refused' ? this.closedPort : this.port;
    return `http://127.0.0.1:${port}/m/${i}`;
  }

  mode(i: number): MerchantMode {
    return this.slot(i).mode;
  }

  /** Registers merchant i's signing secret (from the engine's create answer). */
  setSecret(i: number, secret: string): void {
    this.slot(i).secret = secret;
  }

  /** Distinct webhook-ids accepted so far (cheaper than stats()). */
  get acceptedCount(): number {
    return this.ledger.size;
  }

  /** The ledger entry of a webhook-id, if it was accepted. */
  entry(webhookId: string): LedgerEntry | undefined {
    return this.ledger.get(webhookId);
  }

  /** Every accepted id with its entry. */
  entries(): IterableIterator<[string, LedgerEntry]> {
    return this.ledger.entries();
  }

  stats(): FleetStats {
    const h = this.latency;
    return {
      profile: this.profile.name,
      merchants: this.slots.length,
      requests: this.requests,
      accepted: this.ledger.size,
      duplicates: this.duplicates,
      badSignatures: this.badSignatures,
      unknown: this.unknown,
      answers: { ...this.answers },
      hanging: this.hung.size,
      latency: percentiles(h),
      firstArrival: percentiles(this.firstArrival),
      answered: percentiles(this.answered),
      ownLatency: percentiles(this.ownLatency),
    };
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const res of this.hung) res.destroy();
    this.hung.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private slot(i: number): MerchantSlot {
    const slot = this.slots[i];
    if (slot === undefined) throw new RangeError(`no merchant ${i} in a fleet of ${this.slots.length}`);
    return slot;
  }

  private count(kind: string): void {
    this.answers[kind] = (this.answers[kind] ?? 0) + 1;
  }

  private later(ms: number, fn: () => void): void {
    if (ms <= 0) {
      fn();
      return;
    }
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private hold(res: http.ServerResponse): void {
    this.hung.add(res);
    res.on('close', () => this.hung.delete(res));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '';
    if (url.startsWith(CONTROL)) {
      this.control(req, res, url.slice(CONTROL.length));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      this.requests++;
      const i = url.startsWith('/m/') ? Number(url.slice(3)) : Number.NaN;
      const slot = Number.isInteger(i) ? this.slots[i] : undefined;
      if (slot === undefined || slot.secret === undefined) {
        this.unknown++;
        res.writeHead(404).end();
        return;
      }
      if (slot.mode === 'hang' || slot.mode === 'refused') {
        this.count('down');
        this.hold(res);
        return;
      }
      if (slot.mode === 'gone') {
        this.count('gone');
        res.writeHead(410).end();
        return;
      }
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      const verified = verifyWebhook(slot.secret, req.headers, body);
      if (!verified.ok) {
        this.badSignatures++;
        res.writeHead(401, { 'content-type': 'application/json' }).end(`{"error":"${verified.reason}"}`);
        return;
      }
      const a = answer(this.profile, this.random);
      this.count(a.kind);
      // Read once for every measure: the commit time, the transaction and the confirmation's seq.
      const info = bodyInfo(body);
      this.arrived(verified.msgId, info, at, a.kind === 'ok' || a.kind === 'drip', a.kind === 'ok' ? a.delayMs : undefined);
      switch (a.kind) {
        case 'ok':
          this.accept(verified.msgId, info, at, a.delayMs);
          this.later(a.delayMs, () => {
            if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
          });
          return;
        case 'error':
          this.later(a.delayMs, () => {
            if (!res.destroyed) res.writeHead(a.status).end();
          });
          return;
        case 'throttle':
          this.later(a.delayMs, () => {
            if (!res.destroyed) res.writeHead(429, { 'retry-after': String(a.retryAfterSec) }).end();
          });
          return;
        case 'reset':
          this.later(a.delayMs, () => req.socket.destroy());
          return;
        case 'hang':
          this.hold(res);
          return;
        case 'drip':
          this.accept(verified.msgId, info, at, a.durationMs);
          this.drip(res, a.durationMs);
          return;
      }
    });
  }

  /** A 200 whose body comes a byte at a time over `durationMs`. */
  private drip(res: http.ServerResponse, durationMs: number): void {
    const text = '{"ok":true,"note":"slow"}';
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(text.length) });
    this.hold(res);
    let sent = 0;
    const step = Math.max(durationMs / text.length, 1);
    const next = (): void => {
      if (res.destroyed) return;
      res.write(text[sent++]);
      if (sent < text.length) this.later(step, next);
      else res.end();
    };
    this.later(step, next);
  }

  /**
   * Records the engine's delay on an id's first attempt (see `FleetStats.firstArrival`) and, when
   * it is answered 2xx at once after `answerMs`, the end-to-end time to that answer next to the
   * answer time alone.
   */
  private arrived(webhookId: string, info: BodyInfo, at: number, accepting: boolean, answerMs: number | undefined): void {
    if (this.ledger.has(webhookId) || this.seenUnaccepted.has(webhookId)) return;
    if (!accepting) this.seenUnaccepted.add(webhookId);
    if (!Number.isFinite(info.committed) || info.committed < this.steadyFrom) return;
    const previous = info.seq > 1 ? (this.answeredTx.get(info.tx) ?? this.answeredTxOld.get(info.tx)) : undefined;
    const ready = previous === undefined ? info.committed : Math.max(info.committed, previous);
    this.firstArrival.record(at - ready);
    if (answerMs !== undefined) {
      this.answered.record(at - ready + answerMs);
      this.ownLatency.record(answerMs);
    }
  }

  /** A 2xx answer after `answerMs`: into the ledger the first time, a duplicate after. */
  private accept(webhookId: string, info: BodyInfo, at: number, answerMs: number): void {
    if (this.ledger.has(webhookId)) {
      this.duplicates++;
      return;
    }
    if (Number.isFinite(info.committed)) this.latency.record(at - info.committed);
    this.ledger.set(webhookId, { at, tx: info.tx, seq: info.seq });
    if (info.tx === '') return;
    if (at - this.answeredTxSince > ANSWERS_KEPT_MS) {
      this.answeredTxOld = this.answeredTx;
      this.answeredTx = new Map();
      this.answeredTxSince = at;
    }
    this.answeredTx.set(info.tx, at + answerMs);
  }

  private control(req: http.IncomingMessage, res: http.ServerResponse, route: string): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const json = (status: number, value: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      };
      try {
        const m = /^merchants\/(\d+)$/.exec(route);
        if (m !== null) {
          const i = Number(m[1]);
          if (i >= this.slots.length) return json(404, { error: `no merchant ${i}` });
          if (req.method === 'PUT') {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { secret?: unknown };
            if (typeof body.secret !== 'string') return json(400, { error: 'secret must be a string' });
            this.setSecret(i, body.secret);
          }
          return json(200, { index: i, url: this.url(i), mode: this.mode(i) });
        }
        if (route === 'stats') return json(200, this.stats());
        if (route === 'histogram') return json(200, this.latency.toJSON());
        if (route === 'ledger') {
          res.writeHead(200, { 'content-type': 'application/x-ndjson' });
          const lines: string[] = [];
          for (const [id, e] of this.ledger) {
            lines.push(JSON.stringify([id, e.tx, e.seq, e.at]));
            if (lines.length === 5_000) res.write(lines.splice(0).join('\n') + '\n');
          }
          res.end(lines.length > 0 ? lines.join('\n') + '\n' : '');
          return;
        }
        json(404, { error: 'unknown fleet route' });
      } catch (err) {
        json(400, { error: (err as Error).message });
      }
    });
  }
}

/**
 * How long an answer time is kept for the next confirmation of its transaction: a later one is
 * sent right after (an approval already waiting), or its ready time is its own commit anyway.
 */
const ANSWERS_KEPT_MS = 30_000;

/** What the measures read from a body: its commit time (NaN without one), transaction and seq. */
interface BodyInfo {
  readonly committed: number;
  readonly tx: string;
  readonly seq: number;
}

/** A standard body's `timestamp`, `data.id` and `data.seq`; an unknown format gives NaN, '' and 0. */
function bodyInfo(body: Buffer): BodyInfo {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { timestamp?: unknown; data?: { id?: unknown; seq?: unknown } };
    return {
      committed: typeof parsed.timestamp === 'string' ? Date.parse(parsed.timestamp) : Number.NaN,
      tx: typeof parsed.data?.id === 'string' ? parsed.data.id : '',
      seq: typeof parsed.data?.seq === 'number' ? parsed.data.seq : 0,
    };
  } catch {
    return { committed: Number.NaN, tx: '', seq: 0 };
  }
}
