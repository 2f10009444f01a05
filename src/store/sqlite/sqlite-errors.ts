import { ConfirmaError } from '../../errors.js';

/**
 * SQLite's result codes meaning "the database cannot take this call right now" rather than "this
 * call is wrong": a full disk (SQLITE_FULL), an I/O error (SQLITE_IOERR and its extended codes,
 * such as SQLITE_IOERR_WRITE or _FSYNC), a lock another process held past the busy timeout
 * (SQLITE_BUSY), a file that cannot be opened or written (SQLITE_CANTOPEN, SQLITE_READONLY), no
 * memory. better-sqlite3 puts the extended code on `err.code`; they cross the store's thread as
 * plain data with it. Constraint violations, misuse and corruption are not among them: those stay
 * errors (a 500) for someone to look at.
 */
const UNAVAILABLE = /^SQLITE_(FULL|IOERR|BUSY|CANTOPEN|READONLY|NOMEM|PROTOCOL|NOLFS)(_[A-Z_]+)?$/;

/** Whether `err` is SQLite saying it cannot serve this call right now (retry later). */
export function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && UNAVAILABLE.test(code);
}

/**
 * The one vocabulary the rest of Confirma sees, as `pg-errors.ts` gives it for PostgreSQL: such an
 * error is `store_unavailable` (503, retryable, `Retry-After: 1`) on every route. SQLite rolls the
 * transaction back on each of them, so nothing of the call was stored.
 */
export function translate(err: unknown): unknown {
  if (err instanceof ConfirmaError || !isUnavailable(err)) return err;
  return new ConfirmaError('store_unavailable', 'The database is unavailable; nothing was stored.', {
    retryAfterSec: 1,
    cause: err,
  });
}

/**
 * Makes the named async methods of a store's prototype reject with translated errors, so every
 * method answers in the one vocabulary without a try/catch in each.
 */
export function translateRejections(proto: object, methods: readonly string[]): void {
  const target = proto as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const name of methods) {
    const method = target[name];
    if (typeof method !== 'function') throw new Error(`the store has no method ${name}`);
    target[name] = function (this: unknown, ...args: unknown[]): Promise<unknown> {
      return method.apply(this, args).catch((err: unknown) => {
        throw translate(err);
      });
    };
  }
}
