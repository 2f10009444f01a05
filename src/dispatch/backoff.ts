/**
 * When to try again, and whether to try at all. Pure: the clock and the random source come in as
 * arguments, so tests can pin them.
 */
import type { AttemptResult, Outcome } from './outcome.js';

/**
 * Delay in seconds before attempt 1..8: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
 * About 28 hours in all, so a merchant that is down overnight still gets its confirmations.
 */
export const DEFAULT_RETRY_SCHEDULE_SEC: readonly number[] = Object.freeze([0, 5, 300, 1800, 7200, 18000, 36000, 36000]);

/** Most entries a schedule may have; more would keep rows in the hot queue for too long. */
export const MAX_SCHEDULE_ENTRIES = 20;
/** Longest single delay: a week. */
export const MAX_SCHEDULE_DELAY_SEC = 86400 * 7;

/** Jitter: each delay is scaled by a uniform factor in [1 - JITTER, 1 + JITTER). */
const JITTER = 0.2;

/**
 * Parses a schedule written as a comma list of whole seconds ("0,5,300"), as in config and on the
 * command line. Throws with a message naming the bad entry, because this runs once at start-up or
 * at the API edge where a clear message matters more than anything else.
 */
export function parseRetrySchedule(spec: string): number[] {
  const parts = spec.split(',').map((s) => s.trim());
  if (spec.trim() === '' || parts.length === 0) {
    throw new Error('retry schedule is empty: give 1 to 20 comma-separated delays in seconds, e.g. "0,5,300"');
  }
  if (parts.length > MAX_SCHEDULE_ENTRIES) {
    throw new Error(`retry schedule has ${parts.length} entries; at most ${MAX_SCHEDULE_ENTRIES} are allowed`);
  }
  return parts.map((p, i) => {
    if (!/^\d+$/.test(p)) {
      throw new Error(`retry schedule entry ${i + 1} ("${p}") is not a whole number of seconds`);
    }
    const n = Number(p);
    if (n > MAX_SCHEDULE_DELAY_SEC) {
      throw new Error(`retry schedule entry ${i + 1} (${n}) is longer than ${MAX_SCHEDULE_DELAY_SEC} seconds (7 days)`);
    }
    return n;
  });
}

/**
 * The delay before the next attempt after `attemptsMade` failed ones, in ms, jittered ±20% so a
 * merchant that comes back up is not hit by every retry at the same instant. `null` means the
 * schedule is exhausted: the confirmation goes dead.
 */
export function nextRetryDelayMs(
  schedule: readonly number[],
  attemptsMade: number,
  random: () => number = Math.random,
): number | null {
  if (!Number.isInteger(attemptsMade) || attemptsMade < 0) {
    throw new RangeError(`attemptsMade must be a non-negative integer, got ${attemptsMade}`);
  }
  const sec = schedule[attemptsMade];
  if (sec === undefined) return null;
  const factor = 1 - JITTER + 2 * JITTER * random();
  return Math.max(0, Math.round(sec * 1000 * factor));
}

/** IMF-fixdate, RFC 850 and asctime: the three HTTP-date forms (RFC 9110 §5.6.7). */
const IMF_FIXDATE = /^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/;
const RFC850_DATE = /^[A-Za-z]{6,9}, \d{2}-[A-Za-z]{3}-\d{2} \d{2}:\d{2}:\d{2} GMT$/;
const ASCTIME_DATE = /^[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/;

/**
 * Parses a `Retry-After` header into ms from `nowMs`: delta-seconds or an HTTP-date. Capped at
 * `capMs` because the merchant controls the value; a date in the past means "now" (0). Garbage or
 * absence gives `undefined`, and the normal schedule applies.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number, capMs: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (v === '') return undefined;
  const cap = Math.max(0, capMs);
  if (/^\d+$/.test(v)) return Math.min(Number(v) * 1000, cap);
  let at: number;
  if (IMF_FIXDATE.test(v) || RFC850_DATE.test(v)) at = Date.parse(v);
  else if (ASCTIME_DATE.test(v))
    at = Date.parse(`${v} GMT`); // asctime has no zone; HTTP means GMT
  else return undefined;
  if (!Number.isFinite(at)) return undefined;
  return Math.min(Math.max(0, at - nowMs), cap);
}

/** What `classify` needs besides the attempt itself. */
export interface ClassifyContext {
  /** Attempts made so far, including the one being classified. */
  readonly attemptsMade: number;
  /** Delays in seconds before attempt 1..n (the merchant's own or the global one). */
  readonly schedule: readonly number[];
  readonly nowMs: number;
  /** Upper bound on a merchant's `Retry-After`, so one header cannot park a row for a month. */
  readonly retryAfterCapMs: number;
  /** Uniform [0, 1) source for jitter; tests pin it. */
  readonly random?: () => number;
}

/** Short, stable reason for a failed attempt: "http 500", "timeout", "connect", … */
function reasonOf(result: AttemptResult): string {
  if (result.errorKind === 'http_status' || (result.errorKind === undefined && result.statusCode !== undefined)) {
    return `http ${result.statusCode ?? '?'}`;
  }
  return result.errorKind ?? 'other';
}

/**
 * Turns one attempt into what happens next: delivered, disable (410 Gone), retry at a time, or
 * dead when the schedule is exhausted. A `Retry-After` on 429/503 replaces the scheduled delay
 * (capped) but never adds attempts beyond the schedule, so a merchant answering 429 forever still
 * ends in the dead-letter state.
 */
export function classify(result: AttemptResult, ctx: ClassifyContext): Outcome {
  if (result.ok) return { kind: 'delivered' };
  if (result.statusCode === 410) return { kind: 'disable', reason: 'http 410' };
  const reason = reasonOf(result);
  const delay = nextRetryDelayMs(ctx.schedule, ctx.attemptsMade, ctx.random);
  if (delay === null) return { kind: 'dead', reason };
  const honoursRetryAfter = result.statusCode === 429 || result.statusCode === 503;
  if (honoursRetryAfter && result.retryAfterMs !== undefined && !Number.isNaN(result.retryAfterMs)) {
    const wait = Math.min(Math.max(result.retryAfterMs, 0), Math.max(ctx.retryAfterCapMs, 0));
    return { kind: 'retry', at: ctx.nowMs + wait, reason };
  }
  return { kind: 'retry', at: ctx.nowMs + delay, reason };
}
