import type { FastifyInstance } from 'fastify';
import { prometheusContentType } from 'prom-client';
import { Health, textResponse } from '../schemas/common.js';
import { ref } from '../schemas/schema.js';
import type { RouteContext } from '../server.js';

const open = { tags: ['health'], security: [] };

/**
 * Liveness, readiness and metrics, without auth. /healthz says the process answers; /readyz says it should
 * get traffic: not shutting down, and the database answers.
 */
export function healthRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get(
    '/healthz',
    {
      config: { public: true },
      schema: {
        ...open,
        operationId: 'health',
        summary: 'Liveness',
        response: { 200: { ...ref(Health), description: 'Alive' } },
      },
    },
    async () => ({ ok: true }),
  );

  app.get(
    '/readyz',
    {
      config: { public: true },
      schema: {
        ...open,
        operationId: 'ready',
        summary: 'Readiness: not shutting down and the database answers',
        response: {
          200: { ...ref(Health), description: 'Ready' },
          503: { ...ref(Health), description: 'Not ready: reason is shutting_down or store_unavailable' },
        },
      },
    },
    async (request, reply) => {
      if (!ctx.isReady()) return reply.code(503).send({ ok: false, reason: 'shutting_down' });
      try {
        await ctx.store.ping();
      } catch (err) {
        request.log.warn({ err }, 'readiness: the store did not answer');
        return reply.code(503).send({ ok: false, reason: 'store_unavailable' });
      }
      return { ok: true };
    },
  );

  // Open to scrapers like /healthz: counts and timings only, no merchant data.
  app.get(
    '/metrics',
    {
      config: { public: true },
      schema: {
        ...open,
        operationId: 'metrics',
        summary:
          "Prometheus metrics: attempts by outcome, attempt durations, commit batches, in flight, confirmations by state (the last read, with its age and whether the store answered), event-loop delay, the process's CPU, memory and GC",
        response: { 200: textResponse('text/plain', 'Prometheus text exposition') },
      },
    },
    async (_request, reply) => {
      if (ctx.metrics === undefined) return reply.type(prometheusContentType).send('');
      return reply.type(ctx.metrics.contentType).send(await ctx.metrics.render());
    },
  );
}
