import { EventEmitter } from 'node:events';
import type { Config } from '../config.js';
import type { Claim } from '../domain/confirmation.js';
import type { DeliveryTarget } from '../domain/merchant.js';
import { GroupCommit } from '../ingest/group-commit.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import { hostOf, SpanKind, SpanStatusCode, traced, tracer } from '../observe/tracing.js';
import { isConfirmaError } from '../errors.js';
import { formatOf, FormatError, type OutgoingRequest } from '../formats/index.js';
import { KeyringError, keyringOf, type Keyring } from '../signing/keyring.js';
import { openSigningSecret } from '../signing/sealed-secrets.js';
import type { ClaimWant, IngestClaimer, OutcomeRecord, OutcomesRecorded, Store } from '../store/store.js';
import { classify } from './backoff.js';
import type { BreakerSnapshot, BreakerState } from './breaker.js';
import type { HttpClient } from './http-client.js';
import { Lane } from './lane.js';
import { attemptDeadlineMs, MIN_ATTEMPT_MS } from './lease.js';
import { verdictOf, type AttemptResult, type Outcome, type Verdict } from './outcome.js';

/** How long a lane trusts its cached merchant settings and secrets. */
const TARGET_TTL_MS = 5_000;
/** Backoff between writes of an outcome whose commit failed: doubling from the first, up to the last. */
const RECORD_RETRY_FIRST_MS = 50;
const RECORD_RETRY_MAX_MS = 1_000;

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

/** An ingest claimer that reserves lane slots until the commit's claims are handed over. */
export interface NodeClaimer extends IngestClaimer {
  settle(claims: readonly Claim[]): void;
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

/**
 * The claim loop. Two ways of finding work keep claims cheap at any backlog:
 *
 *  - a scan of the whole queue (oldest due first, skipping full lanes), on start-up, on the slow
 *    poll and when a retry comes due: it discovers work nobody told us about;
 *  - per-merchant claims for lanes marked `backlogged`: an ingest commit names the merchants it
 *    wrote for, and a lane that filled up may have more. When a slot frees, only its own lane is
 *    asked, through the per-merchant index, so a deep backlog of a slow merchant is never rescanned.
 *
 * Each claimed row is sent as one attempt:
 *
 *   claim (lease, token) → sign → send → classify → record (group commit, fenced by token)
 *
 * A lane's slot is freed when the HTTP attempt ends; the row stays `inflight` under its lease until
 * the outcome is committed, so no other claim can take it meanwhile. The attempt's deadline is cut
 * to what its lease still allows (`lease.ts`), so it always ends with time left to commit. A
 * failed outcome commit (a full disk, a lost database) is written again with a backoff while the
 * lease holds; the fencing token makes a write that comes too late harmless. A failed claim only
 * means the next wake (a commit, a freed slot, the poll) tries again.
 *
 * A lane whose circuit is open is left out of the queue scan and claims only its probe, through the
 * per-merchant claim with first attempts preferred (`ClaimWant.preferFirstAttempts`), once the wait
 * is over and nothing of it is in flight. Every way out of an attempt settles the lane's slot and
 * the breaker (`settle`), a probe that never went out included.
 */
export class Dispatcher extends EventEmitter {
  private readonly lanes = new Map<string, Lane>();
  /** Claims whose outcome is not yet committed; released on shutdown. */
  private readonly held = new Map<string, Claim>();
  private readonly active = new Set<Promise<void>>();
  private readonly recorder: GroupCommit<OutcomeRecord, void>;
  private inFlight = 0;
  /** Slots reserved by ingest commits in progress (see `ingestClaimer`). */
  private reserved = 0;
  private running = false;
  private stopping = false;
  private pumping = false;
  private again = false;
  private wakeQueued = false;
  /** A full scan of the queue is wanted (start, poll, retry due). */
  private scanWanted = true;
  /** Lanes that may have due rows and have free slots: claimed for on the next pump. */
  private readonly wanting = new Set<Lane>();
  private pollTimer: NodeJS.Timeout | undefined;
  private dueTimer: NodeJS.Timeout | undefined;
  private dueTimerAt = Number.POSITIVE_INFINITY;
  /** Opens sealed merchant credentials (epayco p_key); undefined without CONFIRMA_MASTER_KEY. */
  private readonly keyring: Keyring | undefined;
  /** Sealed signing secrets already opened: AES-GCM once per secret, not once per attempt. */
  private readonly openedSecrets = new Map<string, string>();
  /** Merchants whose confirmations could not be signed, already reported at error level. */
  private readonly signingReported = new Set<string>();

  constructor(private readonly deps: DispatcherDeps) {
    super();
    this.keyring = keyringOf(deps.config);
    this.recorder = new GroupCommit<OutcomeRecord, void>(
      async (records) => {
        let written: OutcomesRecorded;
        try {
          written = await traced('confirma.outcomes.commit', { 'confirma.ops': records.length }, () =>
            deps.store.recordOutcomes(records, Date.now()),
          );
        } catch (err) {
          // One line per failed batch, not per outcome: each is written again (see `record`).
          deps.metrics.outcomeWriteFailures.inc(undefined, records.length);
          deps.log.error({ err, outcomes: records.length }, 'writing outcomes failed; writing them again while their leases hold');
          throw err;
        }
        const { stale, promoted } = written;
        if (stale > 0) deps.metrics.staleOutcomes.inc(undefined, stale);
        // A transaction's next confirmation became due: its merchant's lane claims it.
        if (promoted.length > 0) this.wake(promoted);
        return records.map(() => undefined);
      },
      { maxBatch: deps.config.commitMaxBatch, maxWaitMs: 0 },
    );
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

  start(): void {
    if (this.running) return;
    this.running = true;
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
    if (merchantIds === undefined) this.scanWanted = true;
    else {
      for (const id of merchantIds) {
        const lane = this.lane(id);
        lane.backlogged = true;
        this.wanting.add(lane);
      }
    }
    this.schedulePump();
  }

  private schedulePump(): void {
    if (!this.running || this.stopping || this.wakeQueued) return;
    this.wakeQueued = true;
    setImmediate(() => {
      this.wakeQueued = false;
      void this.pump();
    });
  }

  /**
   * A claimer for one ingest commit: it takes a new due confirmation while its merchant's lane and
   * the node have free slots, reserving each slot until `settle` (the commit may run on another
   * thread or server meanwhile), so the commit writes the row `inflight` for this node. Call
   * `settle` once with what the commit claimed (nothing if it failed): the claims are sent and the
   * reservations given back. Undefined when the dispatcher is not running.
   */
  ingestClaimer(): NodeClaimer | undefined {
    if (!this.running || this.stopping) return undefined;
    const now = Date.now();
    const held = new Map<Lane, number>();
    let settled = false;
    return {
      leaseMs: this.deps.config.leaseMs,
      unasked: Math.max(this.nodeFree(), 0),
      take: (merchantId) => {
        if (settled || this.nodeFree() <= 0) return false;
        // Only merchants this node already delivers for: an op naming an unknown merchant (it will
        // be refused) must not create a lane. A merchant's first rows go through the claim loop.
        const lane = this.lanes.get(merchantId);
        // A lane still working through a backlog keeps its order of work: the claim loop feeds it.
        if (lane === undefined || lane.backlogged || lane.free(now) <= 0) return false;
        lane.reserved++;
        this.reserved++;
        held.set(lane, (held.get(lane) ?? 0) + 1);
        return true;
      },
      settle: (claims) => {
        if (settled) return;
        settled = true;
        const at = Date.now();
        const unasked: Claim[] = [];
        for (const claim of claims) {
          const lane = this.lanes.get(claim.merchantId);
          const n = lane === undefined ? 0 : (held.get(lane) ?? 0);
          if (lane === undefined || n <= 0) {
            unasked.push(claim);
            continue;
          }
          held.set(lane, n - 1);
          lane.reserved--;
          this.reserved--;
          // The commit wrote the lease from its own start, which is no earlier than `now`.
          this.launch(claim, now);
        }
        for (const [lane, n] of held) {
          lane.reserved -= n;
          this.reserved -= n;
        }
        if (unasked.length > 0) this.settleUnasked(unasked, now, at);
      },
    };
  }

  /**
   * Rows an ingest commit took without a reservation (see `IngestClaimer.unasked`): each goes out
   * if its lane and the node have a free slot now; the others are handed back to the queue and
   * their lanes asked to claim them as usual.
   */
  private settleUnasked(claims: readonly Claim[], claimedAt: number, now: number): void {
    const back: Claim[] = [];
    for (const claim of claims) {
      const lane = this.lane(claim.merchantId);
      if (lane.free(now) > 0 && this.nodeFree() > 0) this.launch(claim, claimedAt);
      else back.push(claim);
    }
    if (back.length === 0) return;
    this.deps.store.releaseClaims(back, now).then(
      () => this.wake(new Set(back.map((c) => c.merchantId))),
      (err: unknown) => this.deps.log.error({ err }, 'handing back claims failed'),
    );
  }

  /** Requests the node may still start: its in-flight bound less what is in flight or reserved. */
  private nodeFree(): number {
    return this.deps.config.maxInFlight - this.inFlight - this.reserved;
  }

  /** Drops a merchant's cached settings and secrets (after PATCH or rotation). */
  invalidate(merchantId: string): void {
    this.lanes.get(merchantId)?.invalidate();
    this.signingReported.delete(merchantId); // a signing failure after a change is news again
  }

  /**
   * Stops claiming, lets attempts in flight finish for up to `graceMs`, commits their outcomes,
   * then gives back every claim still held so another node (or the next start) sends it at once.
   */
  async stop(graceMs: number): Promise<void> {
    if (!this.running) return;
    this.stopping = true;
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
    await this.recorder.drain();
    const leftovers = [...this.held.values()];
    this.held.clear();
    this.running = false; // outcomes still being written again give up now
    if (leftovers.length > 0) {
      try {
        await this.deps.store.releaseClaims(leftovers, Date.now());
        this.deps.log.info({ released: leftovers.length }, 'released claims still in flight at shutdown');
      } catch (err) {
        this.deps.log.warn({ err, claims: leftovers.length }, 'could not hand back claims at shutdown; they are sent again once their lease lapses');
      }
    }
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

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.again = false;
        await this.claimUntilFull();
      } while (this.again && !this.stopping);
    } catch (err) {
      // The store is unreachable or busy: the next wake or poll tries again.
      this.deps.log.error({ err }, 'claiming due confirmations failed');
    } finally {
      this.pumping = false;
    }
  }

  private async claimUntilFull(): Promise<void> {
    const { config, store } = this.deps;
    // Lanes that asked for work: one transaction claims for all of them through the per-merchant index.
    if (this.wanting.size > 0) {
      const now = Date.now();
      // Only ids and limits go to the store: a lane holds secrets and, while it reloads its
      // merchant, a promise, and the store may have to copy its arguments to another thread.
      const wants: ClaimWant[] = [];
      const asked: Lane[] = [];
      let room = this.nodeFree();
      for (const lane of this.wanting) {
        if (room <= 0) break;
        this.wanting.delete(lane);
        const free = Math.min(lane.free(now), room);
        if (free <= 0) continue;
        // A lane that is probing takes a first attempt if it has one (see ClaimWant).
        wants.push(lane.probing ? { merchantId: lane.merchantId, limit: free, preferFirstAttempts: true } : { merchantId: lane.merchantId, limit: free });
        asked.push(lane);
        room -= free;
      }
      if (wants.length > 0) {
        const claims = await store.claimForMerchants(wants, now, config.leaseMs);
        const got = new Map<string, number>();
        for (const claim of claims) {
          got.set(claim.merchantId, (got.get(claim.merchantId) ?? 0) + 1);
          this.launch(claim, now);
        }
        // A lane that got all it asked for may have more waiting; one that got less is drained.
        wants.forEach((w, i) => {
          (asked[i] as Lane).backlogged = (got.get(w.merchantId) ?? 0) >= w.limit;
        });
      }
      if (this.wanting.size > 0) this.again = true;
    }
    if (!this.scanWanted) return;
    this.scanWanted = false;
    for (;;) {
      if (this.stopping) return;
      const room = this.nodeFree();
      if (room <= 0) {
        this.scanWanted = true; // finish the scan when slots free up
        return;
      }
      const now = Date.now();
      const exclude: string[] = [];
      const capacity = new Map<string, number>();
      let nextAt = Number.POSITIVE_INFINITY;
      for (const lane of this.lanes.values()) {
        const free = lane.free(now);
        // A lane held back or waiting for its probe gets a wake-up of its own, so neither waits for the slow poll.
        const waits = lane.waitsUntil;
        if (waits > now && waits < nextAt) nextAt = waits;
        if (lane.probing) {
          // The scan takes oldest due first, which for a merchant that was down is a retry: its
          // probe is claimed for it alone, first attempts first, on the next round of the pump.
          exclude.push(lane.merchantId);
          if (free > 0 && !this.wanting.has(lane)) {
            this.wanting.add(lane);
            this.again = true;
          }
        } else if (free === 0) exclude.push(lane.merchantId);
        else capacity.set(lane.merchantId, free);
      }
      if (nextAt !== Number.POSITIVE_INFINITY) this.wakeAt(nextAt);
      const limit = Math.min(config.claimBatch, room);
      const claims = await store.claimDue({
        now,
        limit,
        leaseMs: config.leaseMs,
        exclude,
        capacity,
        defaultCapacity: config.maxInFlightPerMerchant,
      });
      for (const claim of claims) {
        this.launch(claim, now);
        const lane = this.lane(claim.merchantId);
        if (lane.free(now) === 0) lane.backlogged = true; // filled up: it may have more
      }
      // Keep going while claims come back: lanes that filled up are excluded on the next round.
      if (claims.length === 0) return;
    }
  }

  /** Starts one attempt for a claim whose lease was written from `claimedAt` (or later). */
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
    const p = this.attempt(claim, lane, claimedAt + this.deps.config.leaseMs).catch((err: unknown) => {
      this.deps.log.error({ err, confirmationId: claim.id }, 'attempt failed unexpectedly');
    });
    this.active.add(p);
    void p.finally(() => this.active.delete(p));
  }

  private async attempt(claim: Claim, lane: Lane, leaseEndsAt: number): Promise<void> {
    // Every way out of an attempt, a throw included, frees its slot and settles the breaker, once:
    // a probe left unsettled would keep the circuit half_open on this node for good.
    let settled = false;
    const settle = (verdict: Verdict): void => {
      if (settled) return;
      settled = true;
      this.judge(lane, verdict, Date.now());
      this.freeSlot(lane);
    };
    try {
      await this.deliver(claim, lane, leaseEndsAt, settle);
    } finally {
      settle('not_sent');
    }
  }

  /** One attempt: load the merchant, sign, send, classify, record; `settle` as soon as the request is over. */
  private async deliver(claim: Claim, lane: Lane, leaseEndsAt: number, settle: (verdict: Verdict) => void): Promise<void> {
    const { config, client, store } = this.deps;
    let target: DeliveryTarget | undefined;
    try {
      target = await lane.getTarget(() => store.getDeliveryTarget(claim.merchantId, Date.now()), Date.now(), TARGET_TTL_MS);
    } catch (err) {
      this.deps.log.error({ err, merchantId: claim.merchantId }, 'loading the merchant failed');
    }
    if (target === undefined || target.merchant.disabledAt !== null || target.secrets.length === 0) {
      // Nothing to send to right now, which says nothing about the endpoint. The row goes back (the
      // store parks it if the merchant is disabled), and the lane claims nothing for a moment and
      // then reads the merchant afresh: rows of a merchant that cannot be loaded must not be
      // claimed and handed back on every pump.
      const now = Date.now();
      lane.invalidate();
      lane.hold(now + NOT_SENT_RETRY_MS);
      this.wakeAt(now + NOT_SENT_RETRY_MS);
      settle('not_sent');
      this.held.delete(claim.id);
      await store.releaseClaims([claim], now);
      return;
    }
    const merchant = target.merchant;
    const deadlineMs = attemptDeadlineMs(merchant.timeoutMs ?? config.attemptTimeoutMs, leaseEndsAt, Date.now());
    if (deadlineMs < MIN_ATTEMPT_MS) {
      // Loading the merchant used up the lease (a very slow store): sending now could outlast it.
      // Hand the row back; its next claim comes with a fresh lease.
      settle('not_sent');
      this.held.delete(claim.id);
      this.deps.log.warn({ confirmationId: claim.id, merchantId: claim.merchantId }, 'too little of the lease left to send; handed back');
      await store.releaseClaims([claim], Date.now());
      return;
    }
    // The body's format decides the bytes and headers: stored body in, exact request out.
    const request = this.buildRequest(claim, target);
    // Attributes only when an SDK records the span: without one this costs one no-op object.
    const span = tracer.startSpan('confirma.attempt', { kind: SpanKind.CLIENT });
    if (span.isRecording()) {
      span.setAttributes({
        'confirma.confirmation_id': claim.id,
        'confirma.merchant_id': claim.merchantId,
        'confirma.transaction_id': claim.transactionId,
        'confirma.seq': claim.seq,
        'confirma.attempt': claim.tries + 1,
        'http.request.method': 'POST',
        'server.address': hostOf(merchant.url),
      });
    }
    let result: AttemptResult;
    if ('body' in request) {
      result = await client.send({
        url: merchant.url,
        headers: { ...request.headers, 'user-agent': 'Confirma/0.1' },
        body: request.body,
        deadlineMs,
      });
      settle(verdictOf(result));
    } else {
      result = request; // not sent (signing failed): not the endpoint's doing
      settle('not_sent');
    }
    const outcome = classify(result, {
      attemptsMade: claim.tries + 1,
      schedule: merchant.retrySchedule ?? config.retrySchedule,
      nowMs: Date.now(),
      retryAfterCapMs: config.retryAfterCapMs,
    });
    this.deps.metrics.attempts.inc({ outcome: outcome.kind });
    if (span.isRecording()) {
      if (result.statusCode !== undefined) span.setAttribute('http.response.status_code', result.statusCode);
      if (result.errorKind !== undefined) span.setAttribute('error.type', result.errorKind);
      span.setAttribute('confirma.outcome', outcome.kind);
      if (!result.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: result.errorKind ?? 'not delivered' });
    }
    span.end();
    this.deps.metrics.attemptSeconds.observe(result.durationMs / 1000);
    if (this.stopping && !this.held.has(claim.id)) return; // released at shutdown: not ours to record
    const recorded = await this.record({ claim, outcome, attempt: result }, leaseEndsAt);
    this.held.delete(claim.id);
    if (!recorded) return;
    if (outcome.kind === 'retry') this.wakeAt(outcome.at);
    if (outcome.kind === 'disable') {
      lane.invalidate();
      this.deps.log.warn({ merchantId: claim.merchantId }, 'merchant answered 410 Gone: endpoint disabled');
    }
    this.emit('attempt', { claim, outcome, attempt: result } satisfies AttemptEvent);
  }

  /**
   * Commits one outcome. When the commit fails (the store is unavailable: a full disk, a lost
   * database) the outcome is kept and written again with a doubling backoff while the claim's
   * lease holds, so a delivered confirmation is not sent twice for an outage shorter than its
   * lease. Past the lease another claim may have the row and the write would be refused as stale:
   * the outcome is given up on and the confirmation is sent again (same webhook-id); so is one
   * whose commit failed for another reason than an unavailable store. Returns whether it was
   * written.
   */
  private async record(record: OutcomeRecord, leaseEndsAt: number): Promise<boolean> {
    for (let wait = RECORD_RETRY_FIRST_MS; ; wait = Math.min(wait * 2, RECORD_RETRY_MAX_MS)) {
      let retryable: boolean;
      try {
        await this.recorder.submit(record);
        return true;
      } catch (err) {
        // Logged once per failed batch by the recorder. A bug is not written again and again.
        retryable = isConfirmaError(err) && err.retryable;
      }
      if (!retryable || !this.running || Date.now() + wait >= leaseEndsAt) {
        this.deps.metrics.unrecordedOutcomes.inc();
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, wait).unref());
    }
  }

  /**
   * The request of one attempt, from the stored body through its format module, or a failed
   * attempt when it cannot be signed (then it is retried on the normal schedule). A merchant whose
   * confirmations cannot be signed is reported at error level once (again after it changes).
   */
  private buildRequest(claim: Claim, target: DeliveryTarget): OutgoingRequest | AttemptResult {
    const merchantId = target.merchant.id;
    try {
      const secrets = target.secrets.map((stored) => this.openSecret(merchantId, stored));
      const request = formatOf(claim.format).request({
        msgId: claim.id,
        body: claim.body,
        timestampSec: Math.floor(Date.now() / 1000),
        target: { ...target, secrets },
        keyring: this.keyring,
      });
      if (this.signingReported.size > 0) this.signingReported.delete(merchantId);
      return request;
    } catch (err) {
      if (!(err instanceof FormatError) && !(err instanceof KeyringError)) throw err;
      if (!this.signingReported.has(merchantId)) {
        this.signingReported.add(merchantId);
        this.deps.log.error(
          { merchantId, reason: err.message },
          "cannot sign this merchant's confirmations: they are retried on its schedule and go dead unless its credentials or this node's master keys are fixed",
        );
      }
      return { ok: false, errorKind: 'signing', errorMessage: err.message, durationMs: 0, startedAt: Date.now() };
    }
  }

  /** A signing secret from its stored form (sealed under the master key or not), opened once and kept. */
  private openSecret(merchantId: string, stored: string): string {
    const key = `${merchantId}\0${stored}`; // a sealed value opens only for its own merchant
    let plain = this.openedSecrets.get(key);
    if (plain === undefined) {
      plain = openSigningSecret(this.keyring, merchantId, stored);
      if (this.openedSecrets.size >= 10_000) this.openedSecrets.clear();
      this.openedSecrets.set(key, plain);
    }
    return plain;
  }

  /** Gives an attempt's verdict to its lane's breaker; logs, wakes and emits when the state changes. */
  private judge(lane: Lane, verdict: Verdict, now: number): void {
    const change = lane.judge(verdict, now);
    if (change === undefined) return;
    const { from, to, before, after } = change;
    // Ids and counts only: never the URL (it may carry a merchant's token) or a body.
    const counts = (before ?? after).window;
    const fields = { merchantId: lane.merchantId, ...counts, windowMs: this.deps.config.breakerWindowMs, failedProbes: after.failedProbes };
    if (to === 'open') {
      const nextProbeAt = after.nextProbeAt ?? now;
      this.wakeAt(nextProbeAt);
      const next = { ...fields, nextProbeAt: new Date(nextProbeAt).toISOString() };
      if (from === 'closed') this.deps.log.warn(next, 'circuit breaker opened: the merchant fails too many of its attempts');
      else if (verdict === 'failure') this.deps.log.warn(next, 'circuit breaker probe failed: open again');
      else this.deps.log.debug(next, 'circuit breaker probe was not sent: probing again soon');
    } else if (to === 'closed') {
      this.deps.log.info({ ...fields, failedProbes: before?.failedProbes ?? 0 }, 'circuit breaker closed: the probe was delivered');
    }
    this.emit('breaker', { merchantId: lane.merchantId, from, to, breaker: after } satisfies BreakerEvent);
  }

  private freeSlot(lane: Lane): void {
    lane.inFlight--;
    this.inFlight--;
    if (lane.backlogged) {
      this.wanting.add(lane);
      this.schedulePump();
    } else if (this.scanWanted) {
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
