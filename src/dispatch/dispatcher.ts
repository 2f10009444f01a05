import { EventEmitter } from 'node:events';
import type { Config } from '../config.js';
import type { Claim } from '../domain/confirmation.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import { keyringOf } from '../signing/keyring.js';
import type { OutcomeRecord, Store } from '../store/store.js';
import { AttemptRun, AttemptSteps, type Unsendable } from './attempt.js';
import type { BreakerSnapshot, BreakerState } from './breaker.js';
import type { HttpClient } from './http-client.js';
import { Lane } from './lane.js';
import { LaneClaims } from './lane-claims.js';
import { nodeClaimer, type NodeClaimer, type NodeClaimerHost } from './node-claimer.js';
import { verdictOf, type AttemptResult, type Outcome, type Verdict } from './outcome.js';
import { OutcomeWriter } from './outcome-writer.js';
import { QueueScan } from './queue-scan.js';
import { RequestBuilder } from './request-builder.js';

/**
 * After an attempt that could not be sent (settings failed to load, merchant disabled, no secret,
 * signing failed): how long its lane claims nothing, and how soon a probe that was not sent goes
 * again. Long enough that a row handed back is not claimed again on every pump, short enough that
 * a passing store error costs a second.
 */
const NOT_SENT_RETRY_MS = 1_000;

export interface DispatcherDeps {
  readonly store: Store;
  readonly client: HttpClient;
  readonly config: Config;
  readonly log: Logger;
  readonly metrics: Metrics;
}

/** Emitted when a merchant's circuit breaker changes state on this node (for logs, the dashboard and tests). */
export interface BreakerEvent {
  readonly merchantId: string;
  readonly from: BreakerState;
  readonly to: BreakerState;
  readonly breaker: BreakerSnapshot;
}

/** Emitted after each attempt's outcome is committed (for the dashboard, demo and tests). */
export interface AttemptEvent {
  readonly claim: Claim;
  readonly outcome: Outcome;
  readonly attempt: AttemptResult;
}

/** A dispatcher's phase; see the class comment. */
type Phase = 'idle' | 'running' | 'stopping' | 'stopped';

const ALLOWED: Readonly<Record<Phase, readonly Phase[]>> = {
  idle: ['running'],
  running: ['stopping'],
  stopping: ['stopped'],
  stopped: [],
};

/**
 * The dispatcher: claims due confirmations and sends each as one attempt, within the node's
 * in-flight bound and each merchant's lane (`lane.ts`: its slots and its circuit breaker).
 *
 * Its phases (every change goes through `moveTo`, which asserts it is allowed):
 *
 *   idle ──start──▶ running ──stop──▶ stopping ──(attempts over or grace spent; outcomes written)──▶ stopped
 *
 *   running   claims, sends, records; ingest commits may hand it their new rows (`ingestClaimer`)
 *   stopping  claims nothing and hands out no claimer; attempts in flight finish within the grace
 *             and their outcomes are written, a failed write again while its lease holds
 *   stopped   the claims still held are given back to the store; an outcome still being written
 *             again gives up (its confirmation is sent again, with the same webhook-id)
 *
 * The pump: a wake asks for one on the next turn of the event loop (many wakes in a turn, one
 * pump); a wake while it runs makes it go round again. Each round runs two claim strategies:
 *
 *   lane claims (`lane-claims.ts`) for the lanes in line: an ingest commit named their merchant, a
 *     slot of a backlogged lane freed, a transaction's next confirmation was promoted, a probe is
 *     due. One transaction claims for all of them through the per-merchant index, so a deep
 *     backlog of a slow merchant is never rescanned when one of its slots frees;
 *   the queue scan (`queue-scan.ts`), when wanted: on start, on the slow poll and when a retry or
 *     a probe comes due. Oldest due first across merchants, skipping full lanes and circuits that
 *     are not closed: it finds work nobody told this node about, lapsed leases included.
 *
 * One attempt (`attempt`), each step handing on its own value (`attempt.ts`):
 *
 *   launch    takes a slot of the lane, holds the claim                  → AttemptRun
 *   prepare   the merchant (cached), the deadline its lease allows, the signed request
 *                                         → SendRequest | AttemptResult (cannot be signed)
 *                                           | Unsendable (the claim is handed back: done)
 *   send      one request under one deadline (`http-client.ts`)          → AttemptResult
 *   settle    frees the slot and gives the verdict to the breaker, once
 *   judge     the outcome on the merchant's schedule                     → OutcomeRecord
 *   record    group commit, fenced by the claim's token                  → written or not
 *   recorded  a retry's wake-up, a reload after a 410, the `attempt` event
 *
 * Rules between them:
 *  - a lane's slot is taken at launch and freed exactly once, by `settle`, as soon as the request
 *    is over or known not to go: every way out of an attempt settles, a throw included (a probe
 *    left unsettled would keep its circuit half_open on this node for good). A slot count never
 *    goes below zero (asserted);
 *  - a claim is held from launch until its outcome is committed or it is handed back; the row
 *    stays `inflight` under its lease until then, so no claim takes it meanwhile. The deadline is
 *    cut to what the lease still allows (`lease.ts`), so an attempt ends with time left to commit;
 *    a failed commit is written again with a backoff while the lease holds (`outcome-writer.ts`),
 *    and the fencing token makes a write that comes too late harmless;
 *  - a lane whose circuit is open is left out of the queue scan and claims only its probe, through
 *    a lane claim with first attempts preferred (`ClaimWant.preferFirstAttempts`), once the wait is
 *    over and nothing of it is in flight;
 *  - slots an ingest commit reserved (`ingestClaimer`) count against the node and the lane until
 *    the commit's claims are settled, whether it committed or not;
 *  - a failed claim only means the next wake (a commit, a freed slot, the poll) tries again.
 */
export class Dispatcher extends EventEmitter {
  private readonly lanes = new Map<string, Lane>();
  /** Claims whose outcome is not yet committed; released on shutdown. */
  private readonly held = new Map<string, Claim>();
  private readonly active = new Set<Promise<void>>();
  private readonly outcomes: OutcomeWriter;
  private readonly requests: RequestBuilder;
  private readonly steps: AttemptSteps;
  private readonly host: NodeClaimerHost;
  private readonly laneClaims: LaneClaims;
  private readonly scan: QueueScan;
  private phase: Phase = 'idle';
  private stopped: Promise<void> | undefined;
  private inFlight = 0;
  /** Slots reserved by ingest commits in progress (see `ingestClaimer`). */
  private reserved = 0;
  private pumping = false;
  private again = false;
  private wakeQueued = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private dueTimer: NodeJS.Timeout | undefined;
  private dueTimerAt = Number.POSITIVE_INFINITY;

  constructor(private readonly deps: DispatcherDeps) {
    super();
    this.requests = new RequestBuilder(keyringOf(deps.config), deps.log);
    this.steps = new AttemptSteps({
      store: deps.store,
      config: deps.config,
      log: deps.log,
      metrics: deps.metrics,
      requests: this.requests,
    });
    this.outcomes = new OutcomeWriter({
      store: deps.store,
      log: deps.log,
      metrics: deps.metrics,
      maxBatch: deps.config.commitMaxBatch,
      onPromoted: (merchantIds) => this.wake(merchantIds),
      keepTrying: () => this.phase !== 'stopped',
    });
    this.host = {
      store: deps.store,
      config: deps.config,
      log: deps.log,
      lanes: this.lanes,
      lane: (merchantId) => this.lane(merchantId),
      nodeFree: () => this.nodeFree(),
      launch: (claim, claimedAt) => this.launch(claim, claimedAt),
      wakeAt: (at) => this.wakeAt(at),
      stopping: () => this.stopping,
      reserve: (n) => {
        this.reserved += n;
      },
      wake: (merchantIds) => this.wake(merchantIds),
    };
    this.laneClaims = new LaneClaims(this.host);
    this.scan = new QueueScan(this.host, this.laneClaims);
  }

  /** Requests in flight right now. */
  get inFlightCount(): number {
    return this.inFlight;
  }

  /** In-flight requests per merchant (for metrics and tests). */
  laneInFlight(merchantId: string): number {
    return this.lanes.get(merchantId)?.inFlight ?? 0;
  }

  /**
   * A merchant's circuit breaker as this node sees it; closed with nothing counted when this node
   * has not delivered for the merchant since it started.
   */
  breakerOf(merchantId: string, now = Date.now()): BreakerSnapshot {
    return (
      this.lanes.get(merchantId)?.breaker.snapshot(now) ?? {
        state: 'closed',
        since: null,
        nextProbeAt: null,
        failedProbes: 0,
        window: { attempts: 0, failures: 0 },
      }
    );
  }

  /** How many of this node's breakers are open and half-open (for /metrics). */
  breakerCounts(): { open: number; half_open: number } {
    const counts = { open: 0, half_open: 0 };
    for (const lane of this.lanes.values()) {
      const state = lane.breaker.state;
      if (state !== 'closed') counts[state]++;
    }
    return counts;
  }

  /** Starts claiming; again while running is nothing, after `stop` a programmer error (it throws). */
  start(): void {
    if (this.phase === 'running') return;
    this.moveTo('running');
    this.pollTimer = setInterval(() => this.wake(), this.deps.config.pollMs);
    this.pollTimer.unref();
    this.wake();
  }

  /**
   * Asks for a pump soon; many wakes in one turn of the event loop cost one pump. With merchant
   * ids (after an ingest commit), only those merchants' lanes are claimed for; without, the whole
   * queue is scanned.
   */
  wake(merchantIds?: Iterable<string>): void {
    if (merchantIds === undefined) this.scan.wanted = true;
    else {
      for (const id of merchantIds) {
        const lane = this.lane(id);
        lane.backlogged = true;
        this.laneClaims.want(lane);
      }
    }
    this.schedulePump();
  }

  /**
   * A claimer for one ingest commit (`node-claimer.ts`). Call `settle` once with what the commit
   * claimed (nothing if it failed): the claims are sent and the reservations given back.
   * Undefined unless the dispatcher is running.
   */
  ingestClaimer(): NodeClaimer | undefined {
    return this.phase === 'running' ? nodeClaimer(this.host) : undefined;
  }

  /** Drops a merchant's cached settings and secrets (after PATCH or rotation). */
  invalidate(merchantId: string): void {
    this.lanes.get(merchantId)?.invalidate();
    this.requests.forget(merchantId);
  }

  /**
   * Stops claiming, lets attempts in flight finish for up to `graceMs`, commits their outcomes,
   * then gives back every claim still held so another node (or the next start) sends it at once.
   */
  stop(graceMs: number): Promise<void> {
    if (this.phase === 'idle') return Promise.resolve();
    this.stopped ??= this.shutDown(graceMs);
    return this.stopped;
  }

  private async shutDown(graceMs: number): Promise<void> {
    this.moveTo('stopping');
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    if (this.dueTimer !== undefined) clearTimeout(this.dueTimer);
    if (this.active.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.active]),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, graceMs);
        }),
      ]);
      clearTimeout(timer);
    }
    await this.outcomes.drain();
    const leftovers = [...this.held.values()];
    this.held.clear();
    this.moveTo('stopped'); // outcomes still being written again give up now
    if (leftovers.length > 0) {
      try {
        await this.deps.store.releaseClaims(leftovers, Date.now());
        this.deps.log.info({ released: leftovers.length }, 'released claims still in flight at shutdown');
      } catch (err) {
        this.deps.log.warn(
          { err, claims: leftovers.length },
          'could not hand back claims at shutdown; they are sent again once their lease lapses',
        );
      }
    }
  }

  private get stopping(): boolean {
    return this.phase === 'stopping' || this.phase === 'stopped';
  }

  private moveTo(next: Phase): void {
    if (!ALLOWED[this.phase].includes(next)) throw new Error(`dispatcher: ${this.phase} → ${next} is not allowed`);
    this.phase = next;
  }

  /** Requests the node may still start: its in-flight bound less what is in flight or reserved. */
  private nodeFree(): number {
    return this.deps.config.maxInFlight - this.inFlight - this.reserved;
  }

  private lane(merchantId: string): Lane {
    let lane = this.lanes.get(merchantId);
    if (lane === undefined) {
      const { config } = this.deps;
      lane = new Lane(merchantId, config.maxInFlightPerMerchant, {
        minAttempts: config.breakerMinAttempts,
        failureRatePercent: config.breakerFailureRate,
        windowMs: config.breakerWindowMs,
        openMs: config.breakerOpenMs,
        unsentProbeRetryMs: NOT_SENT_RETRY_MS,
      });
      this.lanes.set(merchantId, lane);
    }
    return lane;
  }

  private schedulePump(): void {
    if (this.phase !== 'running' || this.wakeQueued) return;
    this.wakeQueued = true;
    setImmediate(() => {
      this.wakeQueued = false;
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        if (this.laneClaims.size > 0) {
          await this.laneClaims.claim();
          if (this.laneClaims.size > 0) this.again = true; // the node ran out of room first
        }
        if (this.scan.wanted && (await this.scan.claim())) this.again = true;
      } while (this.again && !this.stopping);
    } catch (err) {
      // The store is unreachable or busy: the next wake or poll tries again.
      this.deps.log.error({ err }, 'claiming due confirmations failed');
    } finally {
      this.pumping = false;
    }
  }

  /** Step launch: takes the lane's slot and holds the claim, whose lease was written from `claimedAt` (or later). */
  private launch(claim: Claim, claimedAt: number): void {
    const now = Date.now();
    const lane = this.lane(claim.merchantId);
    if (lane.breaker.state !== 'closed' && !lane.breaker.canSend(now)) {
      // Lost the probe slot to another claim in the same batch: give it back untouched.
      void this.deps.store.releaseClaims([claim], now).catch((err: unknown) => {
        this.deps.log.error({ err }, 'releasing a claim failed');
      });
      return;
    }
    lane.inFlight++;
    this.inFlight++;
    this.held.set(claim.id, claim);
    const run = new AttemptRun(claim, lane, claimedAt + this.deps.config.leaseMs, this.deps.config.retrySchedule);
    const p = this.attempt(run).catch((err: unknown) => {
      this.deps.log.error({ err, confirmationId: claim.id }, 'attempt failed unexpectedly');
    });
    this.active.add(p);
    void p.finally(() => this.active.delete(p));
  }

  /** The steps of one attempt, chained (see the header and `attempt.ts`). */
  private async attempt(run: AttemptRun): Promise<void> {
    try {
      const prepared = await this.steps.prepare(run);
      if (typeof prepared === 'string') return await this.handBack(run, prepared);
      const result = 'url' in prepared ? await this.deps.client.send(prepared) : prepared;
      this.settle(run, verdictOf(result));
      const record = this.steps.judge(run, result);
      if (this.stopping && !this.held.has(run.claim.id)) return; // released at shutdown: not ours to record
      const written = await this.outcomes.write(record, run.leaseEndsAt);
      this.held.delete(run.claim.id);
      if (written) this.recorded(run, record);
    } finally {
      this.settle(run, 'not_sent');
    }
  }

  /** A claim that cannot be sent now goes back to the store (which parks it if its merchant is disabled). */
  private async handBack(run: AttemptRun, why: Unsendable): Promise<void> {
    const { claim, lane } = run;
    const now = Date.now();
    if (why === 'no_target') {
      // The lane claims nothing for a moment and then reads the merchant afresh: rows of a
      // merchant that cannot be loaded must not be claimed and handed back on every pump.
      lane.invalidate();
      lane.hold(now + NOT_SENT_RETRY_MS);
      this.wakeAt(now + NOT_SENT_RETRY_MS);
    } else {
      // Its next claim comes with a fresh lease.
      this.deps.log.warn(
        { confirmationId: claim.id, merchantId: claim.merchantId },
        'too little of the lease left to send; handed back',
      );
    }
    this.settle(run, 'not_sent');
    this.held.delete(claim.id);
    await this.deps.store.releaseClaims([claim], now);
  }

  /** Step settle: frees the attempt's slot and gives its verdict to the lane's breaker, once. */
  private settle(run: AttemptRun, verdict: Verdict): void {
    if (run.settled) return;
    run.settled = true;
    this.tellBreaker(run.lane, verdict, Date.now());
    this.freeSlot(run.lane);
  }

  /** After step record: what a committed outcome asks of the node. */
  private recorded(run: AttemptRun, record: OutcomeRecord): void {
    const { outcome } = record;
    if (outcome.kind === 'retry') this.wakeAt(outcome.at);
    if (outcome.kind === 'disable') {
      run.lane.invalidate();
      this.deps.log.warn({ merchantId: run.claim.merchantId }, 'merchant answered 410 Gone: endpoint disabled');
    }
    this.emit('attempt', record satisfies AttemptEvent);
  }

  /** Gives an attempt's verdict to its lane's breaker; logs, wakes and emits when the state changes. */
  private tellBreaker(lane: Lane, verdict: Verdict, now: number): void {
    const change = lane.judge(verdict, now);
    if (change === undefined) return;
    const { from, to, before, after } = change;
    // Ids and counts only: never the URL (it may carry a merchant's token) or a body.
    const counts = (before ?? after).window;
    const fields = {
      merchantId: lane.merchantId,
      ...counts,
      windowMs: this.deps.config.breakerWindowMs,
      failedProbes: after.failedProbes,
    };
    if (to === 'open') {
      const nextProbeAt = after.nextProbeAt ?? now;
      this.wakeAt(nextProbeAt);
      const next = { ...fields, nextProbeAt: new Date(nextProbeAt).toISOString() };
      if (from === 'closed') this.deps.log.warn(next, 'circuit breaker opened: the merchant fails too many of its attempts');
      else if (verdict === 'failure') this.deps.log.warn(next, 'circuit breaker probe failed: open again');
      else this.deps.log.debug(next, 'circuit breaker probe was not sent: probing again soon');
    } else if (to === 'closed') {
      this.deps.log.info(
        { ...fields, failedProbes: before?.failedProbes ?? 0 },
        'circuit breaker closed: the probe was delivered',
      );
    }
    this.emit('breaker', { merchantId: lane.merchantId, from, to, breaker: after } satisfies BreakerEvent);
  }

  private freeSlot(lane: Lane): void {
    if (lane.inFlight <= 0 || this.inFlight <= 0)
      throw new Error(`dispatcher: freeing a slot of ${lane.merchantId} that was not taken`);
    lane.inFlight--;
    this.inFlight--;
    if (lane.backlogged) {
      this.laneClaims.want(lane);
      this.schedulePump();
    } else if (this.scan.wanted) {
      this.schedulePump();
    }
  }

  /** Wakes the pump when a retry comes due, sooner than the slow poll would. */
  private wakeAt(at: number): void {
    if (at >= this.dueTimerAt || this.stopping) return;
    if (this.dueTimer !== undefined) clearTimeout(this.dueTimer);
    this.dueTimerAt = at;
    this.dueTimer = setTimeout(
      () => {
        this.dueTimerAt = Number.POSITIVE_INFINITY;
        this.dueTimer = undefined;
        this.wake();
      },
      Math.max(at - Date.now(), 0) + 5,
    );
    this.dueTimer.unref();
  }
}
