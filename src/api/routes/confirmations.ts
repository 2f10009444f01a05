import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { Confirmation } from '../../domain/confirmation.js';
import { ConfirmaError } from '../../errors.js';
import { audit } from '../audit.js';
import { authOf, canSee, requireMerchantVisible, type Auth } from '../auth.js';
import { AUTH, errorResponses, IdParams, NoBody, pageSize } from '../schemas/common.js';
import { ConfirmationPage, ConfirmationQuery, ConfirmationWithAttempts, Redelivered } from '../schemas/confirmation.js';
import { ref } from '../schemas/schema.js';
import type { RouteContext } from '../server.js';
import { attemptView, confirmationView } from '../views.js';

const tags = ['confirmations'];

/**
 * Confirmations: cursor-paged lists, one with its attempts, and redelivery. Another merchant's
 * confirmation answers 404 exactly like a missing one.
 */
export function confirmationRoutes(fastify: FastifyInstance, ctx: RouteContext): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { store } = ctx;

  async function visibleConfirmation(auth: Auth, id: string): Promise<Confirmation> {
    const c = await store.getConfirmation(id);
    if (c === undefined || !canSee(auth, c.merchantId)) {
      throw new ConfirmaError('confirmation_not_found', `confirmation ${id} does not exist`);
    }
    return c;
  }

  app.get(
    '/v1/confirmations',
    {
      schema: {
        operationId: 'listConfirmations',
        summary: 'List confirmations (a merchant key sees only its own)',
        tags,
        querystring: ConfirmationQuery,
        response: {
          200: { ...ref(ConfirmationPage), description: 'A page' },
          ...errorResponses(...AUTH, 'invalid_query', 'invalid_cursor', 'merchant_not_found'),
        },
      },
    },
    async (request) => {
      const auth = authOf(request);
      const q = request.query;
      const limit = pageSize(q.limit);
      // A merchant key lists its own merchant; naming another merchant is a 404, not an empty page
      // that would look like "no confirmations".
      let merchantId = q.merchantId;
      if (auth.scope.kind === 'merchant') {
        if (merchantId !== undefined) requireMerchantVisible(auth, merchantId);
        merchantId = auth.scope.merchantId;
      } else if (merchantId !== undefined && (await store.getMerchant(merchantId)) === undefined) {
        throw new ConfirmaError('merchant_not_found', `merchant ${merchantId} does not exist`, { field: 'merchantId' });
      }
      const rows = await store.listConfirmations({
        ...(merchantId === undefined ? {} : { merchantId }),
        ...(q.state === undefined ? {} : { state: q.state }),
        ...(q.after === undefined ? {} : { after: q.after }),
        limit,
      });
      const last = rows[rows.length - 1];
      return { data: rows.map(confirmationView), nextCursor: rows.length === limit && last !== undefined ? last.id : null };
    },
  );

  app.get(
    '/v1/confirmations/:id',
    {
      schema: {
        operationId: 'getConfirmation',
        summary: 'A confirmation with its attempts',
        tags,
        params: IdParams('Confirmation id (the webhook-id)'),
        response: {
          200: { ...ref(ConfirmationWithAttempts), description: 'The confirmation' },
          ...errorResponses(...AUTH, 'invalid_path', 'confirmation_not_found'),
        },
      },
    },
    async (request) => {
      const c = await visibleConfirmation(authOf(request), request.params.id);
      const attempts = await store.listAttempts(c.id);
      return { ...confirmationView(c), attempts: attempts.map(attemptView) };
    },
  );

  app.post(
    '/v1/confirmations/:id/redeliver',
    {
      schema: {
        operationId: 'redeliverConfirmation',
        summary: 'Put a delivered or dead confirmation back on the queue',
        tags,
        params: IdParams('Confirmation id'),
        body: NoBody,
        response: {
          202: {
            ...ref(Redelivered),
            description: 'Queued; state is the one it is in now (waiting or parked rows stay as they are)',
          },
          ...errorResponses(
            ...AUTH,
            'invalid_path',
            'confirmation_not_found',
            'confirmation_in_flight',
            'unknown_field',
            'invalid_body',
          ),
        },
      },
    },
    async (request, reply) => {
      const c = await visibleConfirmation(authOf(request), request.params.id);
      const outcome = await store.redeliver(c.id, Date.now());
      if (outcome === 'queued') await audit(store, request, 'confirmation.redelivered', c.id, { merchantId: c.merchantId });
      if (outcome === 'not_found') throw new ConfirmaError('confirmation_not_found', `confirmation ${c.id} does not exist`);
      if (outcome === 'in_flight') {
        const retryAfterSec = Math.ceil(ctx.config.attemptTimeoutMs / 1000);
        throw new ConfirmaError('confirmation_in_flight', undefined, { retryAfterSec });
      }
      ctx.onMerchantChanged?.(c.merchantId);
      ctx.onQueued?.();
      // The store leaves a waiting (earlier one still open) or parked (endpoint disabled) row as it
      // is, so answer with the state it is really in.
      const after = await store.getConfirmation(c.id);
      reply.code(202);
      return { id: c.id, state: after?.state ?? 'pending' };
    },
  );
}
