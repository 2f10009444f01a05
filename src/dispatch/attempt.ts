import type { Config } from '../config.js';
import type { Claim } from '../domain/confirmation.js';
import type { DeliveryTarget } from '../domain/merchant.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import { hostOf, SpanKind, SpanStatusCode, tracer, type Span } from '../observe/tracing.js';
import type { OutcomeRecord, Store } from '../store/store.js';
import { classify } from './backoff.js';
import type { SendRequest } from './http-client.js';
import type { Lane } from './lane.js';
import { attemptDeadlineMs, MIN_ATTEMPT_MS } from './lease.js';
import type { AttemptResult } from './outcome.js';
import type { RequestBuilder } from './request-builder.js';

/** How long a lane trusts its cached merchant settings and secrets. */
const TARGET_TTL_MS = 5_000;

/**
 * Why a claim goes back to the store unsent: its merchant could not be loaded or cannot be sent
 * to now (disabled, no secret), or loading it used up the claim's lease.
 */
export type Unsendable = 'no_target' | 'lease_spent';

/** One attempt in progress: what its steps share, in one object per attempt. */
export class AttemptRun {
  /** Whether its slot was freed and its verdict given to the breaker (see `Dispatcher.settle`). */
  settled = false;
  /** Set by `prepare` once a request is built; ended by `judge`. */
  span: Span | undefined = undefined;

  constructor(
    readonly claim: Claim,
    readonly lane: Lane,
    readonly leaseEndsAt: number,
    /** The retry schedule: the global one until `prepare` finds the merchant's own. */
    public schedule: readonly number[],
  ) {}
}

export interface AttemptDeps {
  readonly store: Store;
  readonly config: Config;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly requests: RequestBuilder;
}

/**
 * The steps of one attempt that decide values, each returning its own (the dispatcher chains them
 * with `send` and does the bookkeeping: slots, holds, hand-backs, the commit):
 *
 *   prepare: claim → SendRequest (send it) | AttemptResult (it cannot be signed: a failed attempt)
 *            | Unsendable (hand the claim back)
 *   judge:   AttemptResult → OutcomeRecord (on the merchant's schedule; counted and traced)
 */
export class AttemptSteps {
  constructor(private readonly deps: AttemptDeps) {}

  /** The merchant (cached by its lane), the deadline the lease still allows, and the signed request. */
  async prepare(run: AttemptRun): Promise<SendRequest | AttemptResult | Unsendable> {
    const { config, store, log } = this.deps;
    const { claim, lane } = run;
    let target: DeliveryTarget | undefined;
    try {
      target = await lane.getTarget(() => store.getDeliveryTarget(claim.merchantId, Date.now()), Date.now(), TARGET_TTL_MS);
    } catch (err) {
      log.error({ err, merchantId: claim.merchantId }, 'loading the merchant failed');
    }
    // Nothing to send to right now, which says nothing about the endpoint.
    if (target === undefined || target.merchant.disabledAt !== null || target.secrets.length === 0) return 'no_target';
    const merchant = target.merchant;
    const deadlineMs = attemptDeadlineMs(merchant.timeoutMs ?? config.attemptTimeoutMs, run.leaseEndsAt, Date.now());
    // Loading the merchant used up the lease (a very slow store): sending now could outlast it.
    if (deadlineMs < MIN_ATTEMPT_MS) return 'lease_spent';
    if (merchant.retrySchedule !== null) run.schedule = merchant.retrySchedule;
    // The body's format decides the bytes and headers: stored body in, exact request out.
    const request = this.deps.requests.build(claim, target);
    // Attributes only when an SDK records the span: without one this costs one no-op object.
    const span = tracer.startSpan('confirma.attempt', { kind: SpanKind.CLIENT });
    run.span = span;
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
    if (!('body' in request)) return request; // not sent (signing failed): not the endpoint's doing
    return { url: merchant.url, headers: { ...request.headers, 'user-agent': 'Confirma/0.1' }, body: request.body, deadlineMs };
  }

  /** The outcome the result decides, counted, with the attempt's span ended. */
  judge(run: AttemptRun, result: AttemptResult): OutcomeRecord {
    const { config, metrics } = this.deps;
    const outcome = classify(result, {
      attemptsMade: run.claim.tries + 1,
      schedule: run.schedule,
      nowMs: Date.now(),
      retryAfterCapMs: config.retryAfterCapMs,
    });
    metrics.attempts.inc({ outcome: outcome.kind });
    const span = run.span;
    if (span !== undefined) {
      if (span.isRecording()) {
        if (result.statusCode !== undefined) span.setAttribute('http.response.status_code', result.statusCode);
        if (result.errorKind !== undefined) span.setAttribute('error.type', result.errorKind);
        span.setAttribute('confirma.outcome', outcome.kind);
        if (!result.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: result.errorKind ?? 'not delivered' });
      }
      span.end();
    }
    metrics.attemptSeconds.observe(result.durationMs / 1000);
    return { claim: run.claim, outcome, attempt: result };
  }
}
