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
  | 'circuit_open' // not sent: the merchant's circuit breaker is open
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
  /** Wall time of the attempt. */
  readonly durationMs: number;
  /** Start of the attempt, epoch milliseconds. */
  readonly startedAt: number;
  /** The first bytes of the response body (capped), for the attempt log. */
  readonly responseSnippet?: string;
}

/** What the dispatcher does with a confirmation after an attempt. */
export type Outcome =
  | { readonly kind: 'delivered' }
  | { readonly kind: 'retry'; readonly at: number; readonly reason: string }
  | { readonly kind: 'dead'; readonly reason: string }
  /** 410 Gone: the endpoint is disabled and the merchant's confirmations are parked until re-enabled. */
  | { readonly kind: 'disable'; readonly reason: string };
