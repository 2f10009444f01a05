import { ConfirmaError, type ErrorCode } from '../../errors.js';
import type { IngestOp, IngestResult, Store, StoreMethod } from '../store.js';

/**
 * What crosses between the node's main thread and its SQLite thread. Structured clone copies plain
 * data but not classes, so errors travel as plain objects and are rebuilt on the other side. A
 * catalog error keeps its driver cause (SQLITE_FULL …) for the node's log.
 */
export type WireError =
  | {
      readonly kind: 'confirma';
      readonly code: ErrorCode;
      readonly message: string;
      readonly field?: string;
      readonly retryAfterSec?: number;
      readonly cause?: WireError;
    }
  | { readonly kind: 'error'; readonly name: string; readonly message: string; readonly code?: string };

/**
 * What the SQLite thread serves: every `Store` method, with the `Store`'s own parameter and result
 * types, but `ingest`, whose claimer and refused results cross as plain data (`WireClaimer`,
 * `WireIngestResult`).
 */
export type ThreadStore = { readonly [M in Exclude<StoreMethod, 'ingest'>]: Store[M] } & {
  ingest(ops: readonly IngestOp[], now: number, claimer: WireClaimer | undefined): Promise<WireIngestResult[]>;
};

/** A method the SQLite thread serves: the `Store` methods (see `STORE_METHODS`), and nothing else. */
export type ThreadMethod = keyof ThreadStore;

/** What a call of `M` resolves with on the main thread. */
export type ThreadResult<M extends ThreadMethod> = Awaited<ReturnType<ThreadStore[M]>>;

/** A call from the main thread: a `Store` method by name and its arguments. */
export interface WireCall<M extends ThreadMethod = ThreadMethod> {
  readonly id: number;
  readonly method: M;
  readonly args: Parameters<ThreadStore[M]>;
}

/**
 * The one way to make a call: the compiler checks the method is a `Store` method and each
 * argument has its parameter's type, so a swapped or missing argument does not compile, although
 * the call crosses to the other thread by name.
 */
export function wireCall<M extends ThreadMethod>(id: number, method: M, args: Parameters<ThreadStore[M]>): WireCall<M> {
  return { id, method, args };
}

/** The answer: the method's value, or the error it threw. */
export type WireReply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: WireError };

/**
 * An ingest claimer on the wire: the rows each merchant may take (decided on the main thread) and
 * how many rows of merchants not in `budget` may be taken without asking (status changes).
 */
export interface WireClaimer {
  readonly leaseMs: number;
  readonly budget: Record<string, number>;
  readonly unasked: number;
}

/** An ingest result on the wire: a refused op carries its catalog error as plain data. */
export type WireIngestResult = Exclude<IngestResult, { ok: false }> | { readonly ok: false; readonly error: WireError };

export function toWireError(err: unknown): WireError {
  if (err instanceof ConfirmaError) {
    return {
      kind: 'confirma',
      code: err.code,
      message: err.message,
      ...(err.field === undefined ? {} : { field: err.field }),
      ...(err.retryAfterSec === undefined ? {} : { retryAfterSec: err.retryAfterSec }),
      ...(err.cause instanceof Error && !(err.cause instanceof ConfirmaError) ? { cause: toWireError(err.cause) } : {}),
    };
  }
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (e as { code?: unknown }).code;
  return { kind: 'error', name: e.name, message: e.message, ...(typeof code === 'string' ? { code } : {}) };
}

export function fromWireError(w: WireError): Error {
  if (w.kind === 'confirma') {
    return new ConfirmaError(w.code, w.message, {
      ...(w.field === undefined ? {} : { field: w.field }),
      ...(w.retryAfterSec === undefined ? {} : { retryAfterSec: w.retryAfterSec }),
      ...(w.cause === undefined ? {} : { cause: fromWireError(w.cause) }),
    });
  }
  const err = new Error(w.message) as Error & { code?: string };
  err.name = w.name;
  if (w.code !== undefined) err.code = w.code;
  return err;
}

export function toWireResults(results: readonly IngestResult[]): WireIngestResult[] {
  return results.map((r) => (r.ok ? r : { ok: false, error: toWireError(r.error) }));
}

export function fromWireResults(results: readonly WireIngestResult[]): IngestResult[] {
  return results.map((r) => (r.ok ? r : { ok: false, error: fromWireError(r.error) as ConfirmaError }));
}
