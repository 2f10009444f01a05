import { LIMITS } from './api/schemas/limits.js';

/**
 * The one catalog of error codes. Every error the API answers with comes from here, so clients can
 * branch on `error.code`; `docs/errors.md` documents each code and a test checks that it does.
 */
export interface ErrorSpec {
  /** HTTP status the API answers with. */
  readonly status: number;
  /** Default human message; a thrown error may give a more precise one naming the field. */
  readonly message: string;
  /** Whether the same request may succeed if sent again later unchanged. */
  readonly retryable: boolean;
}

export const errorCatalog = {
  // 400: the request is malformed or breaks a rule
  bad_request: {
    status: 400,
    message:
      'The request is not valid HTTP/1.1 (its framing, a header or Content-Length is malformed); the connection is closed.',
    retryable: false,
  },
  invalid_json: { status: 400, message: 'The body is not valid JSON.', retryable: false },
  invalid_body: { status: 400, message: 'The body does not match the schema.', retryable: false },
  unknown_field: { status: 400, message: 'The body has a field that is not allowed here.', retryable: false },
  missing_field: { status: 400, message: 'A required field is missing.', retryable: false },
  invalid_field: { status: 400, message: 'A field has the wrong type or shape.', retryable: false },
  invalid_amount: {
    status: 400,
    message: 'amount must be a decimal string greater than 0 with no more fraction digits than the currency allows.',
    retryable: false,
  },
  invalid_currency: { status: 400, message: 'currency must be an ISO 4217 alphabetic code.', retryable: false },
  invalid_status: { status: 400, message: 'status must be one of the transaction statuses.', retryable: false },
  invalid_url: { status: 400, message: 'url must be an absolute http(s) URL.', retryable: false },
  destination_not_allowed: {
    status: 400,
    message: 'url points at a private, loopback or reserved address, which is not allowed.',
    retryable: false,
  },
  invalid_retry_schedule: {
    status: 400,
    message: `retrySchedule must be a list of 1 to ${LIMITS.retryScheduleMaxItems} delays in seconds, each between 0 and ${LIMITS.retryDelayMaxSec} (7 days).`,
    retryable: false,
  },
  card_number_refused: {
    status: 400,
    message:
      'A free-text field holds what looks like a card number (13 to 19 digits passing Luhn); card numbers are never accepted.',
    retryable: false,
  },
  invalid_encoding: {
    status: 400,
    message:
      'The body is not valid UTF-8, or a string in it is not well-formed Unicode (a lone surrogate such as \\ud800) or holds U+0000.',
    retryable: false,
  },
  invalid_path: {
    status: 400,
    message: 'The request path is not valid: a malformed percent-escape, or U+0000 in a path parameter.',
    retryable: false,
  },
  invalid_query: { status: 400, message: 'A query parameter is invalid.', retryable: false },
  invalid_cursor: { status: 400, message: 'The cursor is not one this server issued.', retryable: false },
  invalid_idempotency_key: {
    status: 400,
    message: `Idempotency-Key must be 1 to ${LIMITS.idempotencyKeyMax} printable ASCII characters.`,
    retryable: false,
  },
  batch_too_large: { status: 400, message: `A batch holds at most ${LIMITS.batchMax} transactions.`, retryable: false },
  master_key_not_configured: {
    status: 400,
    message:
      'CONFIRMA_MASTER_KEY is not set on this server, so credentials that must be encrypted (epayco pKey) cannot be stored.',
    retryable: false,
  },
  // 401/403/404
  unauthorized: { status: 401, message: 'A valid API key is required: Authorization: Bearer <key>.', retryable: false },
  forbidden: { status: 403, message: 'This key may not perform this action.', retryable: false },
  not_found: { status: 404, message: 'No such resource.', retryable: false },
  merchant_not_found: { status: 404, message: 'No such merchant.', retryable: false },
  transaction_not_found: { status: 404, message: 'No such transaction.', retryable: false },
  confirmation_not_found: { status: 404, message: 'No such confirmation.', retryable: false },
  method_not_allowed: { status: 405, message: 'This method is not allowed on this route.', retryable: false },
  request_timeout: {
    status: 408,
    message: 'The request did not arrive in time (headers or whole request); the connection is closed.',
    retryable: true,
  },
  // 409: conflicts with stored state
  transaction_exists: {
    status: 409,
    message: 'This merchant already has a transaction with this id, with different content.',
    retryable: false,
  },
  ambiguous_transaction_id: {
    status: 409,
    message: 'Several merchants use this transaction id; name one with ?merchantId=.',
    retryable: false,
  },
  invalid_transition: { status: 409, message: 'This status change is not allowed.', retryable: false },
  idempotency_conflict: {
    status: 409,
    message: 'This Idempotency-Key was already used with a different request.',
    retryable: false,
  },
  confirmation_in_flight: {
    status: 409,
    message: 'The confirmation is being delivered right now; try again when the attempt ends.',
    retryable: true,
  },
  unsupported_media_type: { status: 415, message: 'Content-Type must be application/json.', retryable: false },
  body_too_large: { status: 413, message: 'The body is larger than the limit.', retryable: false },
  uri_too_long: { status: 414, message: 'A path parameter is longer than 200 characters; no id is that long.', retryable: false },
  rate_limited: { status: 429, message: 'Too many requests; retry after the given delay.', retryable: true },
  headers_too_large: {
    status: 431,
    message: 'The request line and headers are larger than the server accepts (16 KiB); the connection is closed.',
    retryable: false,
  },
  // 5xx
  internal: { status: 500, message: 'Internal error.', retryable: true },
  store_unavailable: { status: 503, message: 'The database is unavailable; nothing was stored.', retryable: true },
  shutting_down: { status: 503, message: 'The server is shutting down; nothing was stored.', retryable: true },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errorCatalog;

/** An error with a catalog code; the API turns it into `{ error: { code, message, field? } }`. */
export class ConfirmaError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  /** The offending field, as a dotted path (`transactions.3.amount`), when there is one. */
  readonly field: string | undefined;
  /** Seconds a client should wait before retrying (sent as `Retry-After`). */
  readonly retryAfterSec: number | undefined;

  constructor(code: ErrorCode, message?: string, opts: { field?: string; retryAfterSec?: number; cause?: unknown } = {}) {
    const spec: ErrorSpec = errorCatalog[code];
    super(message ?? spec.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ConfirmaError';
    this.code = code;
    this.status = spec.status;
    this.retryable = spec.retryable;
    this.field = opts.field;
    this.retryAfterSec = opts.retryAfterSec;
  }

  toJSON(): { error: { code: ErrorCode; message: string; field?: string } } {
    return {
      error: { code: this.code, message: this.message, ...(this.field === undefined ? {} : { field: this.field }) },
    };
  }
}

export function isConfirmaError(err: unknown): err is ConfirmaError {
  return err instanceof ConfirmaError;
}
