import type { FastifyInstance } from 'fastify';
import type { Confirmation } from '../../domain/confirmation.js';
import { ConfirmaError } from '../../errors.js';
import { authOf, canSee, requireMerchantVisible, type Auth } from '../auth.js';
import { audit } from '../audit.js';
import type { RouteContext } from '../server.js';
import { parseConfirmationQuery, validateNoBody } from '../validate.js';
import { attemptView, confirmationView } from '../views.js';

type IdParams = { Params: { id: string } };

/**
 * Confirmations: cursor-paged lists, one with its attempts, and redelivery. Another merchant's
 * confirmation answers 404 exactly like a missing one.
 */
export function confirmationRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { store } = ctx;

  async function visibleConfirmation(auth: Auth, id: string): Promise<Confirmation> {
    const c = await store.getConfirmation(id);
    if (c === undefined || !canSee(auth, c.merchantId)) {
      throw new ConfirmaError('confirmation_not_found', `confirmation ${id} does not exist`);
    }
    return c;
  }

  app.get('/v1/confirmations', async (request) => {
    const auth = authOf(request);
    const q = parseConfirmationQuery(request.query);
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
      limit: q.limit,
    });
    const last = rows[rows.length - 1];
    return {
      data: rows.map(confirmationView),
      nextCursor: rows.length === q.limit && last !== undefined ? last.id : null,
    };
  });

  app.get<IdParams>('/v1/confirmations/:id', async (request) => {
    const c = await visibleConfirmation(authOf(request), request.params.id);
    const attempts = await store.listAttempts(c.id);
    return { ...confirmationView(c), attempts: attempts.map(attemptView) };
  });

  app.post<IdParams>('/v1/confirmations/:id/redeliver', async (request, reply) => {
    const c = await visibleConfirmation(authOf(request), request.params.id);
    validateNoBody(request.body);
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
  });
}
