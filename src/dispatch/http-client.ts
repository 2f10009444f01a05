/**
 * The HTTP client for delivery attempts: one undici `Agent` (keep-alive pools per origin) behind
 * the SSRF guard, sending one POST under one absolute deadline and turning whatever happens into
 * an `AttemptResult` value. It never throws and never follows redirects.
 *
 * How the deadline is enforced: each attempt arms one timer for `deadlineMs` when `send` is
 * called, and the attempt settles by then whatever phase it is in: waiting for a free connection
 * in our pool, connecting (DNS, TCP, TLS), writing, waiting for headers or reading the body. The
 * deadline is absolute because the claim's lease is sized from it (`lease.ts`): an attempt that
 * could outlast its deadline could outlast its lease, and another claim would send the same
 * confirmation while this one is still in flight. So time queued in our own pool is taken from the
 * merchant's share; an attempt still queued at the deadline was never written and settles
 * `not_sent`, which the circuit breaker ignores (it says nothing about the merchant).
 * If the request is already on a socket it is aborted (the socket is destroyed: it holds a
 * half-read response); if it is still queued or connecting it is dropped when undici gets to it,
 * before anything is written, and the socket goes to the next request. Either way a late phase
 * can never deliver a second result. An answer already waiting in the socket when the timer fires
 * still counts (see `onDeadline`): that grace turn, not extra time, is what keeps a CPU-starved
 * node from timing out answers already on their way. undici's own headers/body timeouts are a
 * backstop a second later and map to `timeout` too; the connect timeout (`connectTimeoutMs`) is a
 * separate, per-socket bound.
 *
 * Why the dispatch API with our own handler instead of `request()`: `request()` wraps every
 * response in a Readable stream, parses every header into an object and needs an AbortSignal per
 * call. We only need the status, at most one header (`Retry-After`, and only on 429/503), a
 * short snippet and a byte count, so the handler reads the raw callbacks and allocates nothing
 * per chunk. We use undici's original handler callbacks (`onConnect`/`onHeaders`/`onData`/…),
 * which its core calls directly; the newer controller-style callbacks are adapted onto these by a
 * wrapper and a controller object per request. undici 7 marks the originals deprecated in its
 * types, but they remain the native path.
 */
import { isIP } from 'node:net';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { parseRetryAfter } from './backoff.js';
import type { AttemptResult, ErrorKind } from './outcome.js';
import { blockedDestinationError, isRefused, makeGuardedLookup, type AllowList, type Resolver } from './ssrf.js';

/** Settings for the client; one client serves every merchant. */
export interface HttpClientOptions {
  /** Bound on establishing one connection (DNS + TCP + TLS), in ms. Default 5000. */
  readonly connectTimeoutMs?: number;
  /** Private ranges the SSRF guard lets through anyway (`parseAllowList('')` for none). */
  readonly allowPrivate: AllowList;
  /** Most response bytes read before the connection is cut. Default 65 536. */
  readonly maxResponseBytes?: number;
  /** Keep-alive connections per origin. Default 256; a merchant's lane limits use below that. */
  readonly connectionsPerOrigin?: number;
  /** Upper bound on a parsed `Retry-After`, in ms. Default one day; `classify` applies its own cap too. */
  readonly retryAfterCapMs?: number;
  /** The DNS resolver behind the guard; the system's by default (tests script their own). */
  readonly resolve?: Resolver;
  /** How long an idle keep-alive connection is kept, in ms, unless the server says less. Default 30 000. */
  readonly keepAliveTimeoutMs?: number;
}

/** One delivery request. */
export interface SendRequest {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: string | Buffer;
  /** The whole attempt (queueing, connect, headers, body) must finish within this many ms. */
  readonly deadlineMs: number;
}

const SNIPPET_CHARS = 256;
const SNIPPET_BYTES = SNIPPET_CHARS * 4; // enough bytes for 256 UTF-8 characters
const URL_CACHE_MAX = 4096;

/** Where a URL sends us: parsed once per distinct URL, since merchants reuse one URL for everything. */
interface Target {
  readonly origin: string;
  readonly path: string;
}

/** What every attempt of one client reads and updates; one object, so attempts need one pointer. */
interface Shared {
  readonly maxResponseBytes: number;
  readonly retryAfterCapMs: number;
  active: number;
}

/** Sends delivery attempts; see the file comment for how deadlines, caps and the guard work. */
export class HttpClient {
  private readonly agent: Agent;
  private readonly targets = new Map<string, Target | string>();
  private readonly shared: Shared;
  private total = 0;

  constructor(opts: HttpClientOptions) {
    const connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    this.shared = {
      maxResponseBytes: opts.maxResponseBytes ?? 65_536,
      retryAfterCapMs: opts.retryAfterCapMs ?? 86_400_000,
      active: 0,
    };
    const keepAlive = opts.keepAliveTimeoutMs ?? 30_000;
    const allow = opts.allowPrivate;
    const base = buildConnector({ timeout: connectTimeoutMs, lookup: makeGuardedLookup(allow, opts.resolve) });
    // net.connect skips `lookup` for IP-literal hosts, so literals are checked here instead.
    const guarded: buildConnector.connector = (options, callback) => {
      const host = options.hostname;
      if (isIP(host) !== 0 && isRefused(host, allow)) {
        queueMicrotask(() => callback(blockedDestinationError(host), null));
        return;
      }
      base(options, callback);
    };
    this.agent = new Agent({
      connections: opts.connectionsPerOrigin ?? 256,
      pipelining: 1,
      keepAliveTimeout: keepAlive,
      keepAliveMaxTimeout: Math.max(keepAlive, 60_000),
      connect: guarded,
    });
  }

  /** Attempts started and not yet settled. */
  get inFlight(): number {
    return this.shared.active;
  }

  /** Attempts started since the client was created. */
  get sentTotal(): number {
    return this.total;
  }

  /**
   * POSTs `req.body` to `req.url` and resolves with what happened. Never rejects: every failure,
   * including a bad URL or a closed client, is an `AttemptResult` with an `errorKind`.
   */
  send(req: SendRequest): Promise<AttemptResult> {
    const startedAt = Date.now();
    this.total++;
    const target = this.target(req.url);
    if (typeof target === 'string') {
      return Promise.resolve(failure(startedAt, 'other', target));
    }
    const deadlineMs = req.deadlineMs;
    if (!(deadlineMs > 0) || !Number.isFinite(deadlineMs)) {
      return Promise.resolve(failure(startedAt, 'other', `invalid deadlineMs ${String(deadlineMs)}`));
    }
    this.shared.active++;
    const attempt = new Attempt(this.shared, startedAt, deadlineMs);
    const promise = new Promise<AttemptResult>((resolve) => {
      attempt.resolve = resolve;
    });
    try {
      this.agent.dispatch(
        {
          origin: target.origin,
          path: target.path,
          method: 'POST',
          headers: req.headers,
          body: req.body,
          // A backstop only (undici counts them from when the request is written): our own
          // deadline, counted from this call, decides first.
          headersTimeout: deadlineMs + BACKSTOP_SLACK_MS,
          bodyTimeout: deadlineMs + BACKSTOP_SLACK_MS,
        },
        attempt,
      );
    } catch (err) {
      attempt.onError(err instanceof Error ? err : new Error(String(err))); // invalid headers, closed agent …
    }
    return promise;
  }

  /** Waits for attempts in flight to finish, then closes every connection. */
  async close(): Promise<void> {
    await this.agent.close();
  }

  /** Closes every connection now; attempts in flight settle with a failure. */
  async destroy(): Promise<void> {
    await this.agent.destroy();
  }

  private target(url: string): Target | string {
    const hit = this.targets.get(url);
    if (hit !== undefined) return hit;
    let t: Target | string;
    try {
      const u = new URL(url);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') t = `unsupported scheme ${u.protocol.slice(0, 16)}`;
      else t = { origin: u.origin, path: u.pathname + u.search };
    } catch {
      t = 'invalid URL';
    }
    if (this.targets.size >= URL_CACHE_MAX) this.targets.clear();
    this.targets.set(url, t);
    return t;
  }
}

/** Marks our own aborts so `onError` can tell them from network errors. */
class DeadlineError extends Error {
  readonly code = 'CONFIRMA_DEADLINE';
}
class CapError extends Error {
  readonly code = 'CONFIRMA_RESPONSE_CAP';
}

/**
 * The deadline timer fired. Timers run before the event loop polls for I/O, so after the loop was
 * busy (a CPU-starved node) an answer may already be waiting in the socket: it gets one turn (read
 * in this iteration's poll phase, before `setImmediate` callbacks) to count before the attempt is
 * called a timeout. Without it, a node that fell behind timed out answers the merchant had sent in
 * time, and sent them again: duplicates under load.
 */
function onDeadline(attempt: Attempt): void {
  setImmediate(expireAttempt, attempt);
}

function expireAttempt(attempt: Attempt): void {
  attempt.expire();
}

/** How far past the deadline undici's own header and body timeouts are set (they are only a backstop). */
const BACKSTOP_SLACK_MS = 1_000;

/**
 * The state of one attempt, doubling as undici's handler. Settles exactly once: on completion,
 * on error, at the response cap, or at the deadline, whichever comes first.
 */
class Attempt implements Dispatcher.DispatchHandler {
  resolve: ((r: AttemptResult) => void) | null = null;
  private abortFn: ((err?: Error) => void) | null = null;
  private done = false;
  private status = 0;
  private retryAfterMs: number | undefined = undefined;
  private bytes = 0;
  private snippet: Buffer | null = null;
  private readonly timer: NodeJS.Timeout;
  /** When `send` was called; `startedAt` moves to when the request went on a socket. */
  private readonly askedAt: number;

  constructor(
    private readonly shared: Shared,
    private startedAt: number,
    private readonly deadlineMs: number,
  ) {
    this.askedAt = startedAt;
    this.timer = setTimeout(onDeadline, deadlineMs, this);
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.done) {
      // Expired while queued or connecting, and nothing has been written yet. Throwing (rather
      // than calling `abort`, which destroys the socket) makes undici drop just this request and
      // hand the healthy keep-alive socket to the next one in the queue.
      throw new DeadlineError('deadline passed while queued or connecting');
    }
    this.abortFn = abort;
    // The attempt's record starts now: time queued in our own pool is not the merchant's. The
    // deadline stays where `send` put it (see the file comment).
    this.startedAt = Date.now();
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], _resume: () => void, _statusText: string): boolean {
    if (statusCode < 200) return true; // 1xx: informational, the real answer follows
    this.status = statusCode;
    if (statusCode === 429 || statusCode === 503) {
      this.retryAfterMs = parseRetryAfter(findHeader(rawHeaders, 'retry-after'), Date.now(), this.shared.retryAfterCapMs);
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    const have = this.snippet === null ? 0 : this.snippet.length;
    if (have < SNIPPET_BYTES) {
      const take = chunk.length > SNIPPET_BYTES - have ? chunk.subarray(0, SNIPPET_BYTES - have) : chunk;
      this.snippet = this.snippet === null ? take : Buffer.concat([this.snippet, take]);
    }
    this.bytes += chunk.length;
    if (this.bytes > this.shared.maxResponseBytes) {
      this.settle(this.answered(`response body cut at ${this.shared.maxResponseBytes} bytes`));
      const abort = this.abortFn;
      if (abort !== null) abort(new CapError('response cap'));
      return false;
    }
    return true;
  }

  onComplete(_trailers: string[] | null): void {
    this.settle(this.answered(undefined));
  }

  onError(err: Error): void {
    if (this.done) return;
    if (this.status !== 0) {
      // The status line arrived; only the body failed. The merchant has answered.
      this.settle(this.answered(`response body failed: ${describeError(err).message}`));
      return;
    }
    const { kind, message } = describeError(err);
    this.settle(failure(this.startedAt, kind, message));
  }

  onUpgrade(_statusCode: number, _headers: Buffer[] | string[] | null, socket: { destroy(): void }): void {
    socket.destroy();
    this.settle(failure(this.startedAt, 'other', 'unexpected protocol upgrade'));
  }

  /** The deadline timer fired (and its grace turn passed). */
  expire(): void {
    if (this.done) return;
    if (this.status !== 0) {
      this.settle(this.answered(`response body not complete within ${this.deadlineMs} ms${this.queuedNote()}`));
    } else if (this.abortFn === null) {
      // Never written: it waited in our own pool (or for a connect slower than the deadline).
      // Not the merchant's failure, so the circuit breaker must not count it.
      this.settle(failure(this.startedAt, 'not_sent', `not sent: no connection came free within ${this.deadlineMs} ms`));
    } else {
      this.settle(failure(this.startedAt, 'timeout', `no response within ${this.deadlineMs} ms${this.queuedNote()}`));
    }
    // Without an abort function yet, onConnect aborts when undici gets to this request.
    const abort = this.abortFn;
    if (abort !== null) abort(new DeadlineError('deadline'));
  }

  /** For a timeout: how much of the deadline went to waiting for one of our connections, if any of it did. */
  private queuedNote(): string {
    const queued = this.startedAt - this.askedAt;
    return queued >= 1 ? ` (${queued} ms of it waiting for a connection)` : '';
  }

  /** A result for a merchant that sent a status line: the status decides, the body is only logged. */
  private answered(note: string | undefined): AttemptResult {
    const status = this.status;
    const ok = status >= 200 && status < 300;
    const snippet = this.snippet === null ? undefined : this.snippet.toString('utf8').slice(0, SNIPPET_CHARS);
    let errorMessage = note;
    if (!ok) {
      const base = status >= 300 && status < 400 ? `http ${status} (redirects are not followed)` : `http ${status}`;
      errorMessage = note === undefined ? base : `${base}; ${note}`;
    }
    // Every result has the same keys in the same order (absent ones undefined): one hidden class.
    return {
      ok,
      statusCode: status,
      errorKind: ok ? undefined : 'http_status',
      errorMessage,
      retryAfterMs: this.retryAfterMs,
      durationMs: Date.now() - this.startedAt,
      startedAt: this.startedAt,
      responseSnippet: snippet === '' ? undefined : snippet,
    };
  }

  private settle(result: AttemptResult): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.snippet = null;
    this.shared.active--;
    const resolve = this.resolve;
    this.resolve = null;
    if (resolve !== null) resolve(result);
  }
}

function failure(startedAt: number, kind: ErrorKind, message: string): AttemptResult {
  return {
    ok: false,
    statusCode: undefined,
    errorKind: kind,
    errorMessage: message,
    retryAfterMs: undefined,
    durationMs: Date.now() - startedAt,
    startedAt,
    responseSnippet: undefined,
  };
}

/** Case-insensitive lookup in undici's raw header list (name, value, name, value …). */
function findHeader(raw: Buffer[], lowerName: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    if (name !== undefined && name.length === lowerName.length && name.toString('latin1').toLowerCase() === lowerName) {
      return raw[i + 1]?.toString('latin1');
    }
  }
  return undefined;
}

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'ETIMEDOUT',
]);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET']);
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NODATA', 'EAI_NONAME']);
const TIMEOUT_CODES = new Set(['CONFIRMA_DEADLINE', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

function codeOf(err: unknown): string {
  if (err === null || typeof err !== 'object') return '';
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  // Happy Eyeballs (several addresses) reports an AggregateError; its first cause is representative.
  const inner = (err as { errors?: unknown }).errors;
  if (Array.isArray(inner) && inner.length > 0) return codeOf(inner[0]);
  return '';
}

/** Maps an undici/Node error to our vocabulary with a short message that carries no URL or body. */
function describeError(err: Error): { kind: ErrorKind; message: string } {
  const code = codeOf(err);
  if (code === 'ERR_BLOCKED_DESTINATION') return { kind: 'blocked_destination', message: err.message };
  if (TIMEOUT_CODES.has(code)) return { kind: 'timeout', message: `timed out (${code})` };
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return { kind: 'connect', message: 'connect timed out' };
  if (CONNECT_CODES.has(code)) return { kind: 'connect', message: `connect failed (${code})` };
  if (RESET_CODES.has(code)) return { kind: 'reset', message: `connection closed by peer (${code})` };
  if (DNS_CODES.has(code)) return { kind: 'dns', message: `name did not resolve (${code})` };
  if (
    code.startsWith('ERR_TLS') ||
    code.startsWith('ERR_SSL') ||
    code.includes('CERT') ||
    code === 'EPROTO' ||
    code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ||
    code === 'DEPTH_ZERO_SELF_SIGNED_CERT'
  ) {
    return { kind: 'tls', message: `TLS failed (${code})` };
  }
  if (code.startsWith('HPE_')) return { kind: 'other', message: `invalid HTTP response (${code})` };
  if (err.name === 'AbortError' || code === 'UND_ERR_ABORTED') return { kind: 'timeout', message: 'aborted' };
  return { kind: 'other', message: code === '' ? err.message.slice(0, 120) : `${code}: ${err.message.slice(0, 100)}` };
}
