import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';

/** The OpenAPI 3.1 document of this API, without auth; generated once, from the routes' schemas. */
export function openapiRoutes(app: FastifyInstance): void {
  app.get(
    '/openapi.json',
    {
      config: { public: true },
      schema: {
        operationId: 'openapi',
        summary: 'This document',
        tags: ['pages'],
        security: [],
        response: { 200: Type.Object({}, { additionalProperties: true, description: 'OpenAPI 3.1' }) },
      },
    },
    async () => app.swagger(),
  );
}
