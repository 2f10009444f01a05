import { STATUS_CODES, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectionError, FastifyError, FastifyHttpOptions, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import { ConfirmaError } from '../errors.js';

/**
 * What every Confirma HTTP server (the API, a worker's health port) answers for requests that
 * never reach a route, in the catalog's shape like everything else: Node's parser errors
 * (`clientError`: bad framing, a NUL or bare LF in a header, headers too large, timeouts) and
 * Fastify's router errors (a malformed percent-escape, an over-long path parameter).
 */

/**
 * Node checks its request and header timeouts on a timer (every 30 s by default), so a timeout
 * of 10 s could take 40 s to fire; a tenth of the shorter timeout, at most 1 s, keeps them on
 * time. The check walks only connections with a request under way.
 */
export function connectionsCheckingInterval(config: Config): number {
  return Math.max(10, Math.min(1_000, Math.floor(Math.min(config.headersTimeoutMs, config.requestTimeoutMs) / 10)));
}

/** The Fastify options of the transport every Confirma HTTP server shares: timeouts, error shapes, router limits. */
export function transportOptions(config: Config): FastifyHttpOptions<Server> {
  return {
    // Fastify's own default (0) turns Node's request timeout off; ours bounds every request.
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    http: {
      requestTimeout: config.requestTimeoutMs,
      headersTimeout: config.headersTimeoutMs,
      keepAliveTimeout: config.keepAliveTimeoutMs,
      connectionsCheckingInterval: connectionsCheckingInterval(config),
    },
    // Path parameters are ids; longer ones cannot exist (414 uri_too_long).
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors,
    clientErrorHandler,
  };
}

/** Sends a catalog error as the reply; Retry-After when the error carries one. */
export function sendError(reply: FastifyReply, err: ConfirmaError): FastifyReply {
  if (err.retryAfterSec !== undefined) reply.header('retry-after', String(Math.ceil(err.retryAfterSec)));
  return reply.code(err.status).type('application/json; charset=utf-8').send(err.toJSON());
}

/** The longest path parameter the router takes; ids are far shorter. */
export const MAX_PARAM_LENGTH = 200;

/** Fastify's `frameworkErrors`: router errors, answered through the catalog (the path is never echoed). */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  reply.header('x-request-id', request.id);
  let err: ConfirmaError;
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    err = new ConfirmaError('uri_too_long', `a path segment is longer than ${MAX_PARAM_LENGTH} characters; no id is that long`);
  } else if (error.code === 'FST_ERR_BAD_URL') {
    err = new ConfirmaError('invalid_path', 'the path holds a malformed percent-escape');
  } else {
    request.log.error({ err: error }, 'framework error');
    err = new ConfirmaError('internal');
  }
  void sendError(reply, err);
}

/** The catalog error for one of Node's client errors. */
function clientErrorOf(code: string | undefined): ConfirmaError {
  switch (code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ConfirmaError('request_timeout');
    case 'HPE_HEADER_OVERFLOW':
      return new ConfirmaError('headers_too_large');
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return new ConfirmaError('body_too_large', 'the chunk extensions are larger than the server accepts');
    default:
      return new ConfirmaError('bad_request');
  }
}

/**
 * Fastify's `clientErrorHandler` (Node's `clientError`): no request object exists yet, so the
 * answer is written raw on the socket, which is then closed. As Node does by default, nothing is
 * written once a response to this socket has started.
 */
export function clientErrorHandler(error: ConnectionError, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (socket.writable && inFlight?.headersSent !== true) {
    const err = clientErrorOf(error.code);
    const body = JSON.stringify(err.toJSON());
    socket.write(
      `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? ''}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        (err.retryAfterSec === undefined ? '' : `Retry-After: ${Math.ceil(err.retryAfterSec)}\r\n`) +
        'Connection: close\r\n\r\n' +
        body,
    );
  }
  socket.destroy();
}
