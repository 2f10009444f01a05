import { Pool, request } from 'undici';
import { fakeTransaction, type FakeTransaction } from './fake.js';
import type { Fleet, FleetStats } from './fleet.js';

/**
 * The load generator: creates merchants pointing at a fleet, then sends fake transactions at a
 * target rate through `POST /v1/transactions/batch`. A share is created `pending` and PATCHed to
 * `approved` a moment later (a second confirmation, after the first in order). It remembers how
 * many confirmations each acknowledged transaction must produce, which is what the demo and the
 * benchmark check the fleet's ledger against.
 */

/** The part of a fleet the load generator needs; the fleet may be in this process or another. */
export interface FleetLink {
  readonly size: number;
  url(i: number): Promise<string>;
  setSecret(i: number, secret: string): Promise<void>;
  stats(): Promise<FleetStats>;
}

export function localFleet(fleet: Fleet): FleetLink {
  return {
    size: fleet.size,
    url: async (i) => fleet.url(i),
    setSecret: async (i, secret) => fleet.setSecret(i, secret),
    stats: async () => fleet.stats(),
  };
}

/** A fleet run by `confirma fleet`, reached through its `/_fleet/` control API. */
export async function remoteFleet(baseUrl: string): Promise<FleetLink> {
  const base = baseUrl.replace(/\/$/, '');
  const getJson = async (path: string, method = 'GET', body?: unknown): Promise<unknown> => {
    const res = await request(`${base}/_fleet/${path}`, {
      method: method as 'GET',
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = await res.body.json();
    if (res.statusCode !== 200) throw new Error(`fleet ${path}: ${res.statusCode} ${JSON.stringify(json)}`);
    return json;
  };
  const first = (await getJson('stats')) as FleetStats;
  return {
    size: first.merchants,
    url: async (i) => ((await getJson(`merchants/${i}`)) as { url: string }).url,
    setSecret: async (i, secret) => {
      await getJson(`merchants/${i}`, 'PUT', { secret });
    },
    stats: async () => (await getJson('stats')) as FleetStats,
  };
}

export interface LoadOptions {
  /** The engine's base URL. */
  readonly url: string;
  readonly adminKey: string;
  /** Transactions per second offered. */
  readonly rate: number;
  readonly durationSec: number;
  /** Merchants to create (at most the fleet's size). */
  readonly merchants: number;
  readonly fleet: FleetLink;
  /** Share of transactions created `pending` and approved later (default 0.2). */
  readonly pendingShare?: number;
  /** Delay before a pending transaction is approved, ms (default 1000–2000). */
  readonly approveAfterMs?: number;
  /** Lane size given to each merchant (default: the engine's). */
  readonly maxInFlight?: number;
  /** Batches (and PATCHes) in flight at most (default 64). */
  readonly maxOutstanding?: number;
  /** HTTP connections to the engine (default 16). */
  readonly connections?: number;
  /**
   * Closed loop for maximum-rate runs: sending pauses while `backlog()` (acknowledged, not yet
   * confirmed) is above `maxBacklog`, so the rate measured is what the engine sustains end to end
   * rather than how fast it can pile up a queue.
   */
  readonly maxBacklog?: number;
  readonly backlog?: () => number;
}

export interface LoadProgress {
  readonly elapsedSec: number;
  /** Transactions sent in batches. */
  readonly sent: number;
  /** Transactions the engine acknowledged (durable). */
  readonly acknowledged: number;
  /** Confirmations the acknowledgements stand for (creates + approvals). */
  readonly expectedConfirmations: number;
  readonly refused: number;
  readonly errors: number;
  /** Requests the engine answered 429 (rate limited): sent again after its Retry-After, not lost. */
  readonly throttled: number;
  /** Transactions behind the target rate (the engine or this generator is the bottleneck). */
  readonly behind: number;
}

interface Approval {
  readonly txId: string;
  /** Its merchant, named in the PATCH: ids are unique per merchant, so the admin key names it. */
  readonly merchantId: string;
  readonly at: number;
}

/** How often the sender tops up to the target: each tick sends what is due as one batch (up to 1,000). */
const TICK_MS = 20;

export class Load {
  /**
   * Acknowledged transaction id → what it must produce, packed in one number to keep a million of
   * them cheap: `confirmations + 4 × merchant index` (confirmations is 1, or 2 once its approval
   * was acknowledged). Read it with {@link unpackExpected}.
   */
  readonly expected = new Map<string, number>();
  /** Engine merchant id → fleet index. */
  readonly merchantIndex = new Map<string, number>();
  private merchantIds: string[] = [];
  private readonly pool: Pool;
  private readonly approvals: Approval[] = [];
  private approvalHead = 0;
  private outstanding = 0;
  private sent = 0;
  private acknowledged = 0;
  private approved = 0;
  private refused = 0;
  private errors = 0;
  private throttles = 0;
  /** No send before this time (a 429's Retry-After). */
  private pausedUntil = 0;
  /** Batches and approvals answered 429, to send again first. */
  private readonly retryBatches: FakeTransaction[][] = [];
  private readonly retryApprovals: Approval[] = [];
  private behind = 0;
  private startedAt = 0;
  private seq = 0;
  private readonly runId = Date.now().toString(36);
  private readonly auth: Record<string, string>;
  /** First error messages, for the summary. */
  readonly errorSamples: string[] = [];

  constructor(private readonly opts: LoadOptions) {
    this.pool = new Pool(opts.url, { connections: opts.connections ?? 16, keepAliveTimeout: 30_000 });
    this.auth = { authorization: `Bearer ${opts.adminKey}`, 'content-type': 'application/json' };
  }

  /** Creates the merchants (with URLs from the fleet) and gives the fleet their secrets. */
  async setup(): Promise<void> {
    const n = Math.min(this.opts.merchants, this.opts.fleet.size);
    if (n < this.opts.merchants) throw new Error(`the fleet has only ${this.opts.fleet.size} merchants`);
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const url = await this.opts.fleet.url(i);
      const res = await this.pool.request({
        path: '/v1/merchants',
        method: 'POST',
        headers: this.auth,
        body: JSON.stringify({
          name: `Tienda ${i + 1}`,
          url,
          ...(this.opts.maxInFlight === undefined ? {} : { maxInFlight: this.opts.maxInFlight }),
        }),
      });
      const body = (await res.body.json()) as { id?: string; secret?: string; error?: { message: string } };
      if (res.statusCode !== 201 || body.id === undefined || body.secret === undefined) {
        throw new Error(`creating merchant ${i} failed: ${res.statusCode} ${body.error?.message ?? ''}`);
      }
      await this.opts.fleet.setSecret(i, body.secret);
      ids.push(body.id);
      this.merchantIndex.set(body.id, i);
    }
    this.merchantIds = ids;
  }

  progress(): LoadProgress {
    return {
      elapsedSec: this.startedAt === 0 ? 0 : (Date.now() - this.startedAt) / 1000,
      sent: this.sent,
      acknowledged: this.acknowledged,
      expectedConfirmations: this.acknowledged + this.approved,
      refused: this.refused,
      errors: this.errors,
      throttled: this.throttles,
      behind: this.behind,
    };
  }

  /** Offers the rate for the duration, then sends the approvals still due; resolves when all are answered. */
  async run(): Promise<LoadProgress> {
    if (this.merchantIds.length === 0) await this.setup();
    const { rate, durationSec } = this.opts;
    const maxOutstanding = this.opts.maxOutstanding ?? 64;
    const batchMax = 1_000;
    this.startedAt = Date.now();
    const end = this.startedAt + durationSec * 1000;
    for (;;) {
      const now = Date.now();
      const target = Math.floor((rate * Math.min(now - this.startedAt, durationSec * 1000)) / 1000);
      let due = target - this.sent;
      // Asked before every batch, not once per tick: a tick could otherwise send maxOutstanding
      // batches at once, far past the bound.
      const held = (): boolean =>
        this.opts.maxBacklog !== undefined && this.opts.backlog !== undefined && this.opts.backlog() > this.opts.maxBacklog;
      // Nothing new after the end: past it the closed loop would keep topping up to rate × duration
      // whenever the backlog fell, and a run whose batches are answered quickly never ended.
      // A 429 pauses every send until its Retry-After, as a well-behaved client does.
      const paused = now < this.pausedUntil;
      while (!paused && this.retryBatches.length > 0 && this.outstanding < maxOutstanding) {
        this.postBatch(this.retryBatches.shift() as FakeTransaction[]);
      }
      while (!paused && this.retryApprovals.length > 0 && this.outstanding < maxOutstanding) {
        this.sendApproval(this.retryApprovals.shift() as Approval);
      }
      while (!paused && due > 0 && this.outstanding < maxOutstanding && now < end && !held()) {
        const n = Math.min(due, batchMax);
        this.sendBatch(n);
        due -= n;
      }
      this.behind = Math.max(due, 0);
      while (!paused && this.approvalHead < this.approvals.length && this.outstanding < maxOutstanding) {
        const a = this.approvals[this.approvalHead] as Approval;
        if (a.at > now) break;
        this.approvalHead++;
        this.sendApproval(a);
      }
      if (this.approvalHead > 10_000) {
        this.approvals.splice(0, this.approvalHead);
        this.approvalHead = 0;
      }
      // At the end of the duration sending stops, even if behind (the closed loop held it back).
      const sendingDone = now >= end;
      const retriesLeft = this.retryBatches.length + this.retryApprovals.length;
      if (sendingDone && this.outstanding === 0 && this.approvalHead >= this.approvals.length && retriesLeft === 0) break;
      await new Promise((r) => setTimeout(r, TICK_MS));
    }
    return this.progress();
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  private sendBatch(n: number): void {
    const pendingShare = this.opts.pendingShare ?? 0.2;
    const items = new Array<FakeTransaction>(n);
    for (let k = 0; k < n; k++) {
      const merchantId = this.merchantIds[Math.floor(Math.random() * this.merchantIds.length)] as string;
      items[k] = fakeTransaction(merchantId, `ord-${this.runId}-${++this.seq}`, pendingShare);
    }
    this.sent += n;
    this.postBatch(items);
  }

  private postBatch(items: FakeTransaction[]): void {
    const n = items.length;
    this.outstanding++;
    this.call('POST', '/v1/transactions/batch', { transactions: items })
      .then(({ status, body, retryAfterSec }) => {
        if (status === 429) {
          this.throttled(retryAfterSec);
          this.retryBatches.push(items);
          return;
        }
        if (status !== 200) {
          this.fail(`batch answered ${status}: ${JSON.stringify(body).slice(0, 200)}`, n);
          return;
        }
        const approveAfter = this.opts.approveAfterMs ?? 1_000;
        for (const r of (
          body as {
            results: Array<{ ok: boolean; transaction?: { id: string; status: string; merchantId: string }; error?: unknown }>;
          }
        ).results) {
          if (!r.ok || r.transaction === undefined) {
            this.refused++;
            if (this.errorSamples.length < 5) this.errorSamples.push(JSON.stringify(r.error));
            continue;
          }
          this.acknowledged++;
          this.expected.set(r.transaction.id, 1 + 4 * (this.merchantIndex.get(r.transaction.merchantId) ?? 0));
          if (r.transaction.status === 'pending') {
            const at = Date.now() + approveAfter + Math.random() * approveAfter;
            this.approvals.push({ txId: r.transaction.id, merchantId: r.transaction.merchantId, at });
          }
        }
      })
      .catch((err: unknown) => this.fail(`batch failed: ${(err as Error).message}`, n))
      .finally(() => this.outstanding--);
  }

  private sendApproval(a: Approval): void {
    const { txId } = a;
    this.outstanding++;
    this.call('PATCH', `/v1/transactions/${txId}?merchantId=${a.merchantId}`, { status: 'approved' })
      .then(({ status, body, retryAfterSec }) => {
        if (status === 429) {
          this.throttled(retryAfterSec);
          this.retryApprovals.push(a);
          return;
        }
        if (status !== 200) {
          this.fail(`approval answered ${status}: ${JSON.stringify(body).slice(0, 200)}`, 0);
          return;
        }
        this.approved++;
        this.expected.set(txId, (this.expected.get(txId) ?? 1) + 1);
      })
      .catch((err: unknown) => this.fail(`approval failed: ${(err as Error).message}`, 0))
      .finally(() => this.outstanding--);
  }

  /** Holds every send back for the server's Retry-After (1 s when it gives none). */
  private throttled(retryAfterSec: number | undefined): void {
    this.throttles++;
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + (retryAfterSec ?? 1) * 1000);
  }

  private fail(message: string, _n: number): void {
    this.errors++;
    if (this.errorSamples.length < 5) this.errorSamples.push(message);
  }

  private async call(
    method: 'POST' | 'PATCH',
    path: string,
    body: unknown,
  ): Promise<{ status: number; body: unknown; retryAfterSec: number | undefined }> {
    const res = await this.pool.request({ path, method, headers: this.auth, body: JSON.stringify(body) });
    const text = await res.body.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // keep the text
    }
    const retryAfter = Number(res.headers['retry-after']);
    return {
      status: res.statusCode,
      body: parsed,
      retryAfterSec: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
    };
  }
}

/** Reads a value of {@link Load.expected}. */
export function unpackExpected(v: number): { confirmations: number; merchantIndex: number } {
  return { confirmations: v % 4, merchantIndex: Math.floor(v / 4) };
}

/** One line of progress for a terminal: `sent 12000 · acked 11980 · confirmed 1980/s · backlog 40`. */
export function progressLine(p: LoadProgress, fleet: FleetStats | undefined, confirmedPerSec: number): string {
  const backlog = fleet === undefined ? '?' : String(Math.max(p.expectedConfirmations - fleet.accepted, 0));
  const parts = [
    `${p.elapsedSec.toFixed(0).padStart(3)} s`,
    `sent ${p.sent}`,
    `acked ${p.acknowledged}`,
    `confirmed ${Math.round(confirmedPerSec)}/s`,
    `backlog ${backlog}`,
  ];
  if (p.behind > 0) parts.push(`behind ${p.behind}`);
  if (p.errors + p.refused > 0) parts.push(`errors ${p.errors + p.refused}`);
  return parts.join(' · ');
}
