import { ConfirmaError } from '../../errors.js';

/** Socket-level errors from node and the pg driver's own words for a lost connection. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH']);
/** SQLSTATEs meaning "the server is going away or not taking connections", not "your SQL is wrong". */
const SERVER_GONE = new Set(['57P01', '57P02', '57P03', '53300', '58030']);
const LOST = /Connection terminated|connection error|timeout exceeded when trying to connect|Client was closed|not queryable/i;

/** Whether `err` says the database cannot be reached right now (retry later), rather than a bug. */
export function isConnectionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (SOCKET_CODES.has(code) || SERVER_GONE.has(code) || code.startsWith('08'))) return true;
  const message = (err as { message?: unknown }).message;
  return typeof message === 'string' && LOST.test(message);
}

/**
 * The server is up but out of room: disk full (53100; writes that need new space fail, the rest
 * goes on) or out of memory (53200). The connection is fine; the call is not a bug.
 */
const OUT_OF_RESOURCES = new Set(['53100', '53200']);

/** Deadlocks and serialization failures: the transaction can simply run again. */
export function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

/**
 * The one vocabulary the rest of Confirma sees: a lost database, or one out of disk or memory, is
 * `store_unavailable` (503, retryable, `Retry-After: 1`), as SQLite's are (`sqlite-errors.ts`).
 */
export function translate(err: unknown): unknown {
  if (err instanceof ConfirmaError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (isConnectionError(err) || (typeof code === 'string' && OUT_OF_RESOURCES.has(code))) {
    return new ConfirmaError('store_unavailable', 'The database is unavailable; nothing was stored.', {
      retryAfterSec: 1,
      cause: err,
    });
  }
  return err;
}
