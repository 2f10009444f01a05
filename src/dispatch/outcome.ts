/**
 * The values one delivery attempt produces. Expected outcomes are values, never exceptions:
 * `sendAttempt` returns an `AttemptResult`, `classify` turns it into an `Outcome`.
 */

/** Why an attempt failed, recorded on the attempt row. */
export type ErrorKind =
  | 'http_status' // the merchant answered, but not with a 2xx
  | 'timeout' // the absolute deadline passed (connect, headers or body)
  | 'connect' // connection refused / unreachable / connect timeout
  | 'reset' // the socket was closed or reset by the peer
  | 'dns' // the host name did not resolve
  | 'tls' // TLS handshake or certificate failure
  | 'blocked_destination' // the SSRF guard refused the resolved address
  | 'not_sent' // not sent: no connection of our own pool came free within the deadline
  | 'signing' // not sent: the request could not be built (merchant credentials missing or unreadable)
  | 'other'; // anything else (a bug in our client, an unexpected error)

/** What happened on the wire during one attempt. */
export interface AttemptResult {
  /** True when the merchant answered 2xx within the deadline. */
  readonly ok: boolean;
  /** HTTP status, when the merchant answered at all. */
  readonly statusCode?: number;
  readonly errorKind?: ErrorKind;
  /** Short description of the failure, safe to store and show (no secrets, no body). */
  readonly errorMessage?: string;
  /** Parsed `Retry-After`, in milliseconds from now, when a 429/503 carried one. */
  readonly retryAfterMs?: number;
  /**
   * Wall time of the attempt, from the moment the request was put on a socket (time spent waiting
   * for one of our own connections is not the merchant's); for an attempt never sent, the wait.
   */
  readonly durationMs: number;
  /** Start of the attempt (when the request went on a socket, or was asked for), epoch ms. */
  readonly startedAt: number;
  /** The first bytes of the response body (capped), for the attempt log. */
  readonly responseSnippet?: string;
}

/** What one attempt says about the endpoint, for its circuit breaker. */
export type Verdict = 'success' | 'failure' | 'not_sent';

/**
 * The verdict of an attempt: failures that say the endpoint is unwell (5xx, 429, timeout, refused,
 * reset …) feed the breaker's failure rate; any other answer shows it is up; an attempt that never
 * reached the merchant says nothing about it.
 */
export function verdictOf(r: AttemptResult): Verdict {
  if (r.ok) return 'success';
  if (r.statusCode !== undefined) return r.statusCode >= 500 || r.statusCode === 429 ? 'failure' : 'success';
  const unsent = r.errorKind === 'blocked_destination' || r.errorKind === 'not_sent' || r.errorKind === 'signing';
  return unsent ? 'not_sent' : 'failure';
}

/** What the dispatcher does with a confirmation after an attempt. */
export type Outcome =
  | { readonly kind: 'delivered' }
  | { readonly kind: 'retry'; readonly at: number; readonly reason: string }
  | { readonly kind: 'dead'; readonly reason: string }
  /** 410 Gone: the endpoint is disabled and the merchant's confirmations are parked until re-enabled. */
  | { readonly kind: 'disable'; readonly reason: string };
