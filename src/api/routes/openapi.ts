import type { FastifyInstance } from 'fastify';
import { openapiDocument } from '../openapi.js';
import type { RouteContext } from '../server.js';

/** The OpenAPI 3.1 document of this API, without auth. Built once; a test checks it lists every route. */
export function openapiRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const doc = openapiDocument(ctx.config);
  app.get('/openapi.json', { config: { public: true } }, async () => doc);
}
