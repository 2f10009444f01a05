import type { FastifyInstance } from 'fastify';
import { prometheusContentType } from 'prom-client';
import type { RouteContext } from '../server.js';

/**
 * Liveness, readiness and metrics, without auth. /healthz says the process answers; /readyz says it should
 * get traffic: not shutting down, and the database answers.
 */
export function healthRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get('/healthz', { config: { public: true } }, async () => ({ ok: true }));

  app.get('/readyz', { config: { public: true } }, async (request, reply) => {
    if (!ctx.isReady()) return reply.code(503).send({ ok: false, reason: 'shutting_down' });
    try {
      await ctx.store.ping();
    } catch (err) {
      request.log.warn({ err }, 'readiness: the store did not answer');
      return reply.code(503).send({ ok: false, reason: 'store_unavailable' });
    }
    return { ok: true };
  });

  // Open to scrapers like /healthz: counts and timings only, no merchant data.
  app.get('/metrics', { config: { public: true } }, async (_request, reply) => {
    if (ctx.metrics === undefined) return reply.type(prometheusContentType).send('');
    return reply.type(ctx.metrics.contentType).send(await ctx.metrics.render());
  });
}
