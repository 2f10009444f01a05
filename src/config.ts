import { isIP } from 'node:net';
import { parseRetrySchedule, DEFAULT_RETRY_SCHEDULE_SEC } from './dispatch/backoff.js';
import { longestAttemptMs, OUTCOME_ALLOWANCE_MS } from './dispatch/lease.js';
import { parseMasterKey } from './signing/keyring.js';

/**
 * One configuration schema: defaults ← CONFIRMA_* environment ← command-line overrides.
 * Validated once at start-up (cross-field rules included), then frozen. The README's
 * configuration table lists every variable below; a test checks that it does.
 */
export interface Config {
  /** HTTP port of the API (CONFIRMA_PORT). */
  readonly port: number;
  /** Address the API listens on (CONFIRMA_HOST). */
  readonly host: string;
  /** `postgres://…` selects PostgreSQL; otherwise the SQLite file at `dbPath` (DATABASE_URL). */
  readonly databaseUrl: string | undefined;
  /** SQLite file (CONFIRMA_DB_PATH). */
  readonly dbPath: string;
  /** Run the SQLite store on its own thread, off the event loop (CONFIRMA_DB_THREAD, default true). */
  readonly dbThread: boolean;
  /** Admin API key (CONFIRMA_ADMIN_KEY); without it no admin route can be used. */
  readonly adminKey: string | undefined;
  /**
   * Master key that encrypts merchant credentials Confirma must read back, such as the ePayco
   * `p_key` (CONFIRMA_MASTER_KEY): 32 random bytes as 64 hex digits or base64. Without it no
   * `epayco` merchant can be created. Every node of a deployment needs the same key.
   */
  readonly masterKey: string | undefined;
  /**
   * Former master keys, comma-separated (CONFIRMA_MASTER_KEY_PREVIOUS): they only open values
   * sealed before a rotation; everything new is sealed with `masterKey`. Needs `masterKey`.
   */
  readonly masterKeyPrevious: readonly string[];
  /** Delays in seconds before attempts 1..n (CONFIRMA_RETRY_SCHEDULE). */
  readonly retrySchedule: readonly number[];
  /** Longest `Retry-After` honoured, ms (CONFIRMA_RETRY_AFTER_CAP_MS). */
  readonly retryAfterCapMs: number;
  /** Absolute deadline of one attempt, ms (CONFIRMA_ATTEMPT_TIMEOUT_MS). */
  readonly attemptTimeoutMs: number;
  /** TCP/TLS connect timeout, ms (CONFIRMA_CONNECT_TIMEOUT_MS). */
  readonly connectTimeoutMs: number;
  /** Default max requests in flight per merchant (CONFIRMA_MAX_IN_FLIGHT_PER_MERCHANT). */
  readonly maxInFlightPerMerchant: number;
  /** Max requests in flight for the whole node (CONFIRMA_MAX_IN_FLIGHT). */
  readonly maxInFlight: number;
  /** Keep-alive connections per merchant origin; requests beyond wait for a free one (CONFIRMA_CONNECTIONS_PER_ORIGIN). */
  readonly connectionsPerOrigin: number;
  /** Most confirmations claimed per query (CONFIRMA_CLAIM_BATCH). */
  readonly claimBatch: number;
  /**
   * Lease on a claimed confirmation, ms (CONFIRMA_LEASE_MS): at least the attempt timeout plus
   * 2 s to commit the outcome (`dispatch/lease.ts`); merchants' `timeoutMs` are bounded by it too.
   */
  readonly leaseMs: number;
  /** Fallback poll for retries coming due, ms (CONFIRMA_POLL_MS). */
  readonly pollMs: number;
  /** Most writes in one group commit (CONFIRMA_COMMIT_MAX_BATCH). */
  readonly commitMaxBatch: number;
  /** How long a write may wait for others to share its commit, ms (CONFIRMA_COMMIT_WAIT_MS). */
  readonly commitWaitMs: number;
  /** Requests per second each API key may make on average; 0 disables (CONFIRMA_RATE_LIMIT). */
  readonly rateLimitPerSec: number;
  /** Requests a key may make in a burst above the average (CONFIRMA_RATE_LIMIT_BURST). */
  readonly rateLimitBurst: number;
  /**
   * Failed authentications (401) per second each client address may make on average; past its
   * burst its requests answer 429 before any key is looked up. 0 disables (CONFIRMA_AUTH_FAILURE_LIMIT).
   */
  readonly authFailureLimitPerSec: number;
  /** Failed authentications an address may make in a burst (CONFIRMA_AUTH_FAILURE_BURST). */
  readonly authFailureBurst: number;
  /**
   * The proxies in front of the node whose X-Forwarded-For is believed about the client's address
   * (CONFIRMA_TRUST_PROXY): comma-separated addresses and CIDRs, or `loopback`, `linklocal`,
   * `uniquelocal`; empty trusts none (the socket's peer is the client). A trusted proxy can claim
   * any client address, so name only your own.
   */
  readonly trustProxy: readonly string[];
  /** Largest request body accepted, bytes (CONFIRMA_BODY_LIMIT). */
  readonly bodyLimitBytes: number;
  /**
   * Longest a client may take to send a whole request, headers and body, ms
   * (CONFIRMA_REQUEST_TIMEOUT_MS); past it the API answers 408 and closes the connection, so
   * clients trickling a body cannot hold the node's sockets.
   */
  readonly requestTimeoutMs: number;
  /** Longest a client may take to send a request's headers, ms (CONFIRMA_HEADERS_TIMEOUT_MS); at most the request timeout. */
  readonly headersTimeoutMs: number;
  /**
   * How long an idle keep-alive connection stays open between requests, ms
   * (CONFIRMA_KEEP_ALIVE_TIMEOUT_MS). Behind a load balancer it must exceed the balancer's own
   * idle timeout (60 s on AWS ALB), or the balancer reuses connections the node is closing.
   */
  readonly keepAliveTimeoutMs: number;
  /** CIDRs or `loopback` that confirmations may be sent to despite being private (CONFIRMA_ALLOW_PRIVATE_DESTINATIONS). */
  readonly allowPrivateDestinations: string;
  /** Refuse merchant URLs that are not https (CONFIRMA_REQUIRE_HTTPS). */
  readonly requireHttps: boolean;
  /**
   * Length of the sliding window over which a merchant's circuit breaker counts attempts and
   * failures, ms (CONFIRMA_BREAKER_WINDOW_MS); it slides in 1-second steps. First attempts and
   * retries count alike.
   */
  readonly breakerWindowMs: number;
  /**
   * Attempts a merchant must have made within the window before its failure rate may open its
   * circuit (CONFIRMA_BREAKER_MIN_ATTEMPTS): fewer decide nothing, so a merchant with little
   * traffic is never cut off by a few failures (its retries follow the schedule).
   */
  readonly breakerMinAttempts: number;
  /**
   * Share of the window's attempts, in percent, that must have failed (5xx, 429, timeout, refused,
   * reset …) to open the circuit (CONFIRMA_BREAKER_FAILURE_RATE).
   */
  readonly breakerFailureRate: number;
  /** First open period of a circuit, ms; doubles per failed probe, up to 10 min (CONFIRMA_BREAKER_OPEN_MS). */
  readonly breakerOpenMs: number;
  /** How long old signing secrets keep signing after a rotation, ms (CONFIRMA_SECRET_OVERLAP_MS). */
  readonly secretOverlapMs: number;
  /** How long in-flight attempts may finish on SIGTERM, ms (CONFIRMA_SHUTDOWN_GRACE_MS). */
  readonly shutdownGraceMs: number;
  /** pino level (CONFIRMA_LOG_LEVEL). */
  readonly logLevel: string;
  /** What this node does (CONFIRMA_ROLE): `all`, `api` (ingest and reads, no dispatcher) or `worker` (dispatch only). */
  readonly role: Role;
  /** Most PostgreSQL connections this node's pool opens; the listener adds one (CONFIRMA_PG_POOL_SIZE). */
  readonly pgPoolSize: number;
  /** PostgreSQL schema holding Confirma's tables (CONFIRMA_PG_SCHEMA); lets nodes of several installs share a database. */
  readonly pgSchema: string;
  /** Delivered confirmations and their attempts older than this many days are removed (CONFIRMA_RETENTION_DAYS). */
  readonly retentionDays: number;
  /**
   * Transactions last changed more than this many days ago are removed once no confirmation of
   * theirs is left (CONFIRMA_TRANSACTION_RETENTION_DAYS); at least `retentionDays`.
   */
  readonly transactionRetentionDays: number;
}

const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/**
 * CONFIRMA_TRUST_PROXY, validated so a typo stops the start instead of trusting the wrong peer.
 * `true` and hop counts are refused: neither checks who is talking to the node, so a client that
 * reaches it directly could pick its own address (Fastify itself ignores hop counts for that reason).
 */
function trustProxy(raw: string | undefined): readonly string[] {
  if (raw === undefined || raw.trim() === '') return [];
  const name = 'CONFIRMA_TRUST_PROXY';
  if (/^(true|yes|on|\*|\d+)$/i.test(raw.trim())) {
    throw new ConfigError(
      `${name}=${raw.trim()} would believe X-Forwarded-For from whoever connects, so a client could pick its own address: ` +
        'name the proxies (addresses or CIDRs, or loopback, linklocal, uniquelocal)',
    );
  }
  const entries = raw
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  for (const e of entries) {
    if (PROXY_RANGE_NAMES.includes(e)) continue;
    const [ip = '', prefix, extra] = e.split('/');
    const family = isIP(ip);
    const bits = family === 4 ? 32 : 128;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits);
    if (family === 0 || !prefixOk || extra !== undefined) {
      throw new ConfigError(`${name}: "${e}" is not an IP address, a CIDR or one of ${PROXY_RANGE_NAMES.join(', ')}`);
    }
  }
  return entries;
}

/** Node roles: one process may do both jobs, or N API nodes and M workers share one PostgreSQL. */
export const ROLES = ['all', 'api', 'worker'] as const;
export type Role = (typeof ROLES)[number];

type Env = Readonly<Record<string, string | undefined>>;

/** Thrown for a bad setting; the CLI prints it and exits 2. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function int(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function bool(env: Env, name: string, def: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

/** Builds and freezes the configuration. `overrides` come from command-line flags. */
export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  let retrySchedule: readonly number[] = DEFAULT_RETRY_SCHEDULE_SEC;
  if (env.CONFIRMA_RETRY_SCHEDULE !== undefined && env.CONFIRMA_RETRY_SCHEDULE !== '') {
    try {
      retrySchedule = parseRetrySchedule(env.CONFIRMA_RETRY_SCHEDULE);
    } catch (err) {
      throw new ConfigError(`CONFIRMA_RETRY_SCHEDULE: ${(err as Error).message}`);
    }
  }
  const adminKey = env.CONFIRMA_ADMIN_KEY === '' ? undefined : env.CONFIRMA_ADMIN_KEY;
  const cfg: Config = {
    port: int(env, 'CONFIRMA_PORT', 8080, 0, 65535),
    host: env.CONFIRMA_HOST ?? '127.0.0.1',
    databaseUrl: env.DATABASE_URL === '' ? undefined : env.DATABASE_URL,
    dbPath: env.CONFIRMA_DB_PATH ?? './data/confirma.db',
    dbThread: bool(env, 'CONFIRMA_DB_THREAD', true),
    adminKey,
    masterKey: env.CONFIRMA_MASTER_KEY === '' ? undefined : env.CONFIRMA_MASTER_KEY,
    masterKeyPrevious: (env.CONFIRMA_MASTER_KEY_PREVIOUS ?? '')
      .split(',')
      .map((k) => k.trim())
      .filter((k) => k !== ''),
    retrySchedule,
    retryAfterCapMs: int(env, 'CONFIRMA_RETRY_AFTER_CAP_MS', 3_600_000, 0, 86_400_000),
    attemptTimeoutMs: int(env, 'CONFIRMA_ATTEMPT_TIMEOUT_MS', 15_000, 100, 120_000),
    connectTimeoutMs: int(env, 'CONFIRMA_CONNECT_TIMEOUT_MS', 5_000, 50, 60_000),
    maxInFlightPerMerchant: int(env, 'CONFIRMA_MAX_IN_FLIGHT_PER_MERCHANT', 32, 1, 10_000),
    maxInFlight: int(env, 'CONFIRMA_MAX_IN_FLIGHT', 10_000, 1, 100_000),
    connectionsPerOrigin: int(env, 'CONFIRMA_CONNECTIONS_PER_ORIGIN', 256, 1, 100_000),
    claimBatch: int(env, 'CONFIRMA_CLAIM_BATCH', 1_000, 1, 10_000),
    leaseMs: int(env, 'CONFIRMA_LEASE_MS', 60_000, 500, 3_600_000),
    pollMs: int(env, 'CONFIRMA_POLL_MS', 1_000, 10, 60_000),
    commitMaxBatch: int(env, 'CONFIRMA_COMMIT_MAX_BATCH', 2_000, 1, 100_000),
    commitWaitMs: int(env, 'CONFIRMA_COMMIT_WAIT_MS', 0, 0, 1_000),
    rateLimitPerSec: int(env, 'CONFIRMA_RATE_LIMIT', 500, 0, 1_000_000),
    rateLimitBurst: int(env, 'CONFIRMA_RATE_LIMIT_BURST', 1_000, 1, 1_000_000),
    authFailureLimitPerSec: int(env, 'CONFIRMA_AUTH_FAILURE_LIMIT', 2, 0, 1_000_000),
    authFailureBurst: int(env, 'CONFIRMA_AUTH_FAILURE_BURST', 20, 1, 1_000_000),
    trustProxy: trustProxy(env.CONFIRMA_TRUST_PROXY),
    bodyLimitBytes: int(env, 'CONFIRMA_BODY_LIMIT', 1_048_576, 1_024, 64 * 1_048_576),
    requestTimeoutMs: int(env, 'CONFIRMA_REQUEST_TIMEOUT_MS', 30_000, 100, 600_000),
    headersTimeoutMs: int(env, 'CONFIRMA_HEADERS_TIMEOUT_MS', 10_000, 100, 600_000),
    keepAliveTimeoutMs: int(env, 'CONFIRMA_KEEP_ALIVE_TIMEOUT_MS', 72_000, 1_000, 600_000),
    allowPrivateDestinations: env.CONFIRMA_ALLOW_PRIVATE_DESTINATIONS ?? '',
    requireHttps: bool(env, 'CONFIRMA_REQUIRE_HTTPS', false),
    breakerWindowMs: int(env, 'CONFIRMA_BREAKER_WINDOW_MS', 30_000, 1_000, 3_600_000),
    breakerMinAttempts: int(env, 'CONFIRMA_BREAKER_MIN_ATTEMPTS', 20, 1, 1_000_000),
    breakerFailureRate: int(env, 'CONFIRMA_BREAKER_FAILURE_RATE', 50, 1, 100),
    breakerOpenMs: int(env, 'CONFIRMA_BREAKER_OPEN_MS', 30_000, 100, 3_600_000),
    secretOverlapMs: int(env, 'CONFIRMA_SECRET_OVERLAP_MS', 86_400_000, 0, 30 * 86_400_000),
    shutdownGraceMs: int(env, 'CONFIRMA_SHUTDOWN_GRACE_MS', 10_000, 0, 600_000),
    logLevel: env.CONFIRMA_LOG_LEVEL ?? 'info',
    role: (env.CONFIRMA_ROLE === undefined || env.CONFIRMA_ROLE === '' ? 'all' : env.CONFIRMA_ROLE) as Role,
    pgPoolSize: int(env, 'CONFIRMA_PG_POOL_SIZE', 10, 1, 1_000),
    pgSchema: env.CONFIRMA_PG_SCHEMA === undefined || env.CONFIRMA_PG_SCHEMA === '' ? 'public' : env.CONFIRMA_PG_SCHEMA,
    retentionDays: int(env, 'CONFIRMA_RETENTION_DAYS', 7, 1, 3_650),
    transactionRetentionDays: int(env, 'CONFIRMA_TRANSACTION_RETENTION_DAYS', 30, 1, 36_500),
    ...overrides,
  };
  // Refused rather than ignored: it was often set very high to keep the breaker out of the way (our
  // own benchmarks did), and a node that silently turned a breaker back on, or read the number as
  // something else, would surprise its operator at the worst moment.
  if (env.CONFIRMA_BREAKER_THRESHOLD !== undefined && env.CONFIRMA_BREAKER_THRESHOLD !== '') {
    throw new ConfigError(
      'CONFIRMA_BREAKER_THRESHOLD is no longer read: the circuit breaker opens on a failure rate, not on consecutive failures. ' +
        'Remove it and set CONFIRMA_BREAKER_FAILURE_RATE (percent, default 50), CONFIRMA_BREAKER_MIN_ATTEMPTS (default 20) and ' +
        'CONFIRMA_BREAKER_WINDOW_MS (default 30000) instead; a very large CONFIRMA_BREAKER_MIN_ATTEMPTS keeps the breaker closed',
    );
  }
  if (cfg.adminKey !== undefined && cfg.adminKey.length < 24) {
    throw new ConfigError('CONFIRMA_ADMIN_KEY must be at least 24 characters (use a random value)');
  }
  if (cfg.masterKey !== undefined) {
    try {
      parseMasterKey(cfg.masterKey);
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
  }
  if (cfg.masterKeyPrevious.length > 0) {
    if (cfg.masterKey === undefined) {
      throw new ConfigError(
        'CONFIRMA_MASTER_KEY_PREVIOUS needs CONFIRMA_MASTER_KEY: the current key seals, previous keys only open',
      );
    }
    cfg.masterKeyPrevious.forEach((k, i) => {
      try {
        parseMasterKey(k, `CONFIRMA_MASTER_KEY_PREVIOUS (key #${i + 1})`);
      } catch (err) {
        throw new ConfigError((err as Error).message);
      }
    });
  }
  if (cfg.attemptTimeoutMs > longestAttemptMs(cfg.leaseMs)) {
    throw new ConfigError(
      `CONFIRMA_LEASE_MS (${cfg.leaseMs}) must be at least CONFIRMA_ATTEMPT_TIMEOUT_MS (${cfg.attemptTimeoutMs}) + ` +
        `${OUTCOME_ALLOWANCE_MS} ms to commit the outcome, or a slow attempt could be claimed again while in flight`,
    );
  }
  if (cfg.transactionRetentionDays < cfg.retentionDays) {
    throw new ConfigError(
      `CONFIRMA_TRANSACTION_RETENTION_DAYS (${cfg.transactionRetentionDays}) cannot be less than CONFIRMA_RETENTION_DAYS ` +
        `(${cfg.retentionDays}): a transaction is kept while any of its confirmations is`,
    );
  }
  if (cfg.headersTimeoutMs > cfg.requestTimeoutMs) {
    throw new ConfigError(
      `CONFIRMA_HEADERS_TIMEOUT_MS (${cfg.headersTimeoutMs}) cannot exceed CONFIRMA_REQUEST_TIMEOUT_MS (${cfg.requestTimeoutMs}): the headers are part of the request`,
    );
  }
  if (cfg.maxInFlightPerMerchant > cfg.maxInFlight) {
    throw new ConfigError('CONFIRMA_MAX_IN_FLIGHT_PER_MERCHANT cannot exceed CONFIRMA_MAX_IN_FLIGHT');
  }
  if (!(ROLES as readonly string[]).includes(cfg.role)) {
    throw new ConfigError(`CONFIRMA_ROLE (--role) must be one of ${ROLES.join(', ')}, got "${cfg.role}"`);
  }
  const onPostgres = cfg.databaseUrl !== undefined && /^postgres(ql)?:\/\//.test(cfg.databaseUrl);
  if (cfg.role !== 'all' && !onPostgres) {
    throw new ConfigError(
      `role "${cfg.role}" needs a shared PostgreSQL (DATABASE_URL=postgres://…); the SQLite store belongs to one process, which must run role "all"`,
    );
  }
  if (!/^[a-z_][a-z0-9_]{0,40}$/.test(cfg.pgSchema)) {
    throw new ConfigError('CONFIRMA_PG_SCHEMA must be a lower-case identifier: a-z, 0-9 and _, starting with a letter or _');
  }
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(cfg.logLevel)) {
    throw new ConfigError(`CONFIRMA_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent`);
  }
  return Object.freeze(cfg);
}
