import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import type { BreakerSnapshot } from '../dispatch/breaker.js';
import { parseAllowList, type Resolver } from '../dispatch/ssrf.js';
import { containsCardNumber } from '../domain/pan.js';
import { ConfirmaError, isConfirmaError, type ErrorCode } from '../errors.js';
import type { GroupCommit } from '../ingest/group-commit.js';
import type { Logger } from '../observe/logger.js';
import type { Metrics } from '../observe/metrics.js';
import type { IngestOp, IngestResult, Store } from '../store/store.js';
import { authenticate, requireAdmin } from './auth.js';
import { AuthFailureLimiter } from './auth-failure-limiter.js';
import { urlHoldsCardNumber } from './card-numbers.js';
import { sendError, transportOptions } from './http-transport.js';
import { checkBody, checkParams } from './well-formed.js';
import { RateLimiter } from './rate-limiter.js';
import { confirmationRoutes } from './routes/confirmations.js';
import { docsRoutes } from './routes/docs.js';
import { healthRoutes } from './routes/health.js';
import { keyRoutes } from './routes/keys.js';
import { merchantRoutes } from './routes/merchants.js';
import { openapiRoutes } from './routes/openapi.js';
import { registerOpenapi } from './openapi-document.js';
import { pageRoutes } from './routes/pages.js';
import { transactionRoutes } from './routes/transactions.js';
import { merchantRules, type MerchantRules } from './merchant-input.js';
import { SchemaValidator } from './schema-validator.js';
import { merchantInputs, type MerchantInputs } from './schemas/merchant.js';
import { SHARED_SCHEMAS } from './schemas/shared.js';

/** What the API needs from the rest of the process. */
export interface ApiDeps {
  readonly config: Config;
  readonly store: Store;
  /** Every transaction write goes through the group-commit batcher. */
  readonly ingest: GroupCommit<IngestOp, IngestResult>;
  readonly log: Logger;
  /** For /readyz; false while shutting down (then /v1 answers 503 shutting_down). */
  readonly ready?: () => boolean;
  /** After a merchant PATCH, secret rotation, replay or redeliver: refresh the dispatcher's cache and wake it. */
  readonly onMerchantChanged?: (merchantId: string) => void;
  /** After confirmations were put back on the queue (redeliver, replay). */
  readonly onQueued?: () => void;
  /** The node's metrics for GET /metrics; without them the route answers an empty exposition. */
  readonly metrics?: Pick<Metrics, 'contentType' | 'render'>;
  /**
   * A merchant's circuit breaker as this node's dispatcher sees it (`GET /v1/merchants/:id`);
   * absent on a node that does not dispatch, whose merchant views show `breaker: null`.
   */
  readonly breakerOf?: (merchantId: string) => BreakerSnapshot;
  /** DNS for the registration-time SSRF check; the system resolver by default (tests script their own). */
  readonly resolve?: Resolver;
}

/** ApiDeps plus what is derived from them once, handed to each route file. */
export interface RouteContext extends ApiDeps {
  readonly merchantRules: MerchantRules;
  /** The merchant request schemas under this configuration (their bounds depend on it). */
  readonly merchantInputs: MerchantInputs;
  /** The ajv instance every route's schemas are compiled with; the batch route checks its items with it. */
  readonly validator: SchemaValidator;
  readonly isReady: () => boolean;
}

/** Maps Fastify's own client errors onto catalog codes; anything unlisted is a bug (500). */
const FASTIFY_CODES: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_body',
  FST_ERR_NOT_FOUND: 'not_found',
  FST_ERR_BAD_URL: 'invalid_path',
};

/** A client error Fastify raised (bad framing, aborted upload): keep its 4xx but use our shape. */
function fromFastify(err: FastifyError): ConfirmaError | undefined {
  const code = FASTIFY_CODES[err.code];
  if (code !== undefined) return new ConfirmaError(code);
  if (err instanceof SyntaxError) return new ConfirmaError('invalid_json');
  const status = err.statusCode ?? 0;
  if (status === 413) return new ConfirmaError('body_too_large');
  if (status === 415) return new ConfirmaError('unsupported_media_type');
  if (status === 404) return new ConfirmaError('not_found');
  if (status >= 400 && status < 500) return new ConfirmaError('invalid_body');
  return undefined;
}

/** The path of a request no route matched, for its log line and 404: cut short, and never a card number. */
function unmatchedPath(request: FastifyRequest): string {
  const path = (request.url.split('?')[0] ?? '').slice(0, 200);
  return urlHoldsCardNumber(path) ? '(a path holding a card number)' : path;
}

/**
 * Builds the HTTP API. Never listens: the caller decides where (and tests use port 0).
 * Every answer that is not 2xx has the shape `{ error: { code, message, field? } }` with a code
 * from `errors.ts`; bad input is always a 4xx and never reaches a write.
 */
export function buildServer(deps: ApiDeps): FastifyInstance {
  const { config, store, log } = deps;
  const app = Fastify({
    loggerInstance: log,
    bodyLimit: config.bodyLimitBytes,
    // Fastify's per-request lines are off; the onResponse hook below logs one line per request,
    // without bodies or headers (bodies hold customer data, headers hold keys).
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'reqId' }),
    // We answer 503 shutting_down ourselves, in the catalog's shape.
    return503OnClosing: false,
    // A caller's X-Request-Id is kept when it looks like an id, so its logs and ours line up; it is
    // in every log line of the request, so one that reads as a card number is replaced.
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[A-Za-z0-9._:-]{1,64}$/.test(given) && !containsCardNumber(given)
        ? given
        : randomUUID();
    },
    // request.ip (the failed-authentication limit's key) is the X-Forwarded-For hop of a trusted proxy.
    trustProxy: config.trustProxy.length === 0 ? false : [...config.trustProxy],
    // Timeouts, and the catalog's shape for what never reaches a route (http-transport.ts).
    ...transportOptions(config),
  }) as unknown as FastifyInstance;

  const ctx: RouteContext = {
    ...deps,
    merchantRules: merchantRules(config, parseAllowList(config.allowPrivateDestinations)),
    merchantInputs: merchantInputs(config),
    validator: new SchemaValidator(),
    isReady: deps.ready ?? (() => true),
  };

  // Every route's body, query, params and headers are checked against its schema by our ajv
  // (schema-validator.ts), which answers in the catalog's shape; the shared answer schemas are
  // what routes refer to by $id (fast-json-stringify serialises with them).
  app.setValidatorCompiler(ctx.validator.compiler);
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);

  // Only JSON bodies are accepted. An empty body (e.g. POST …/replay sent with a JSON content-type)
  // reaches the route as "no body". Every parsed body is walked once (well-formed.ts) before its
  // schema is checked: that walk, not the parser, refuses prototype keys, so the error names the
  // field, and a lone surrogate is invalid_encoding rather than a schema error.
  app.removeAllContentTypeParsers();
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    let text: string;
    try {
      // Invalid UTF-8 is refused rather than silently replaced with U+FFFD and stored.
      text = typeof body === 'string' ? body : utf8.decode(body);
    } catch {
      done(new ConfirmaError('invalid_encoding', 'the body is not valid UTF-8'), undefined);
      return;
    }
    if (text.length === 0) {
      done(null, undefined);
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
      checkBody(parsed, req.routeOptions.config.itemsCheckedByRoute);
    } catch (err) {
      done(isConfirmaError(err) ? err : new ConfirmaError('invalid_json'), undefined);
      return;
    }
    done(null, parsed);
  });

  app.decorateRequest('auth', null);
  const limiter = new RateLimiter(config.rateLimitPerSec, config.rateLimitBurst);
  const failures = new AuthFailureLimiter(config.authFailureLimitPerSec, config.authFailureBurst);

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    reply.header('x-request-id', request.id);
    if (request.routeOptions.config.public === true || request.is404) return;
    if (!ctx.isReady()) {
      reply.header('connection', 'close');
      throw new ConfirmaError('shutting_down', undefined, { retryAfterSec: 1 });
    }
    // An address that keeps failing is turned away before its key is looked up, and its
    // connection closed, so it costs neither store lookups nor an idle socket.
    const address = request.ip ?? ''; // undefined only once the socket is gone
    const failWait = failures.wait(address, Date.now());
    if (failWait > 0) {
      reply.header('connection', 'close');
      throw new ConfirmaError('rate_limited', 'too many failed authentications from this address; retry after the given delay', {
        retryAfterSec: failWait / 1000,
      });
    }
    try {
      request.auth = await authenticate(request.headers.authorization, config.adminKey, store);
    } catch (err) {
      if (isConfirmaError(err) && err.code === 'unauthorized') failures.fail(address, Date.now());
      throw err;
    }
    const wait = limiter.take(request.auth.keyId, Date.now());
    if (wait > 0) throw new ConfirmaError('rate_limited', undefined, { retryAfterSec: wait / 1000 });
    // Before the body is read or checked: a key that may not use the route learns nothing more.
    if (request.routeOptions.config.adminOnly === true) requireAdmin(request.auth);
    checkParams(request);
  });

  app.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    const url = request.routeOptions.url ?? unmatchedPath(request);
    request.log.debug({ method: request.method, url, statusCode: reply.statusCode, ms: reply.elapsedTime }, 'request');
  });

  app.setNotFoundHandler(async (request: FastifyRequest) => {
    throw new ConfirmaError('not_found', `no route ${request.method} ${unmatchedPath(request)}`);
  });

  app.setErrorHandler(async (error: FastifyError | ConfirmaError | Error, request: FastifyRequest, reply: FastifyReply) => {
    if (isConfirmaError(error)) {
      // A failed commit is worth an error line; shutting_down is expected during a deploy.
      if (error.code === 'store_unavailable' || error.code === 'internal') {
        request.log.error({ err: error.cause ?? error, code: error.code }, error.message);
      }
      return sendError(reply, error);
    }
    const mapped = fromFastify(error as FastifyError);
    if (mapped !== undefined) return sendError(reply, mapped);
    request.log.error({ err: error, method: request.method, url: request.routeOptions.url }, 'unhandled error');
    return sendError(reply, new ConfirmaError('internal'));
  });

  registerOpenapi(app);
  void app.register(async (scoped) => healthRoutes(scoped, ctx));
  void app.register(async (scoped) => openapiRoutes(scoped));
  void app.register(async (scoped) => pageRoutes(scoped));
  void app.register(docsRoutes);
  void app.register(async (scoped) => merchantRoutes(scoped, ctx));
  void app.register(async (scoped) => transactionRoutes(scoped, ctx));
  void app.register(async (scoped) => confirmationRoutes(scoped, ctx));
  void app.register(async (scoped) => keyRoutes(scoped, ctx));
  return app;
}
