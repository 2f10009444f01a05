import type { FastifyInstance } from 'fastify';
import type { ApiKeyRecord } from '../../domain/api-key.js';
import { newId } from '../../domain/ids.js';
import { ConfirmaError } from '../../errors.js';
import { audit } from '../audit.js';
import { authOf, generateApiKey, requireAdmin } from '../auth.js';
import type { RouteContext } from '../server.js';
import { validateNewKey, validateNoBody } from '../validate.js';

type IdParams = { Params: { id: string } };

/** The JSON of a key: never the key or its hash. */
export function keyView(k: ApiKeyRecord): Record<string, unknown> {
  return {
    id: k.id,
    merchantId: k.merchantId,
    prefix: k.prefix,
    name: k.name,
    createdAt: new Date(k.createdAt).toISOString(),
    revokedAt: k.revokedAt === null ? null : new Date(k.revokedAt).toISOString(),
  };
}

/**
 * API keys and the audit log (admin only). A key is shown once, in the 201 of its creation, and
 * stored only as a hash; revoking it makes it answer 401 from the next request on.
 */
export function keyRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { store } = ctx;

  app.post('/v1/keys', async (request, reply) => {
    requireAdmin(authOf(request));
    const input = validateNewKey(request.body);
    if (input.merchantId !== null && (await store.getMerchant(input.merchantId)) === undefined) {
      throw new ConfirmaError('merchant_not_found', `merchant ${input.merchantId} does not exist`, { field: 'merchantId' });
    }
    const generated = generateApiKey(input.merchantId === null ? 'admin' : 'merchant');
    const record = await store.createApiKey(
      { id: newId('key'), merchantId: input.merchantId, prefix: generated.prefix, hash: generated.hash, name: input.name },
      Date.now(),
    );
    await audit(store, request, 'key.created', record.id, { merchantId: record.merchantId, name: record.name });
    reply.code(201);
    return { ...keyView(record), key: generated.key };
  });

  app.get('/v1/keys', async (request) => {
    requireAdmin(authOf(request));
    return { data: (await store.listApiKeys()).map(keyView) };
  });

  app.post<IdParams>('/v1/keys/:id/revoke', async (request) => {
    requireAdmin(authOf(request));
    validateNoBody(request.body);
    const record = await store.revokeApiKey(request.params.id, Date.now());
    if (record === undefined) throw new ConfirmaError('not_found', `key ${request.params.id} does not exist`);
    await audit(store, request, 'key.revoked', record.id, { merchantId: record.merchantId });
    return keyView(record);
  });

  app.get('/v1/audit', async (request) => {
    requireAdmin(authOf(request));
    const q = request.query as Record<string, unknown>;
    const unknown = Object.keys(q).find((k) => k !== 'after' && k !== 'limit');
    if (unknown !== undefined) throw new ConfirmaError('invalid_query', `${unknown} is not a query parameter here`, { field: unknown });
    const after = q.after === undefined ? undefined : Number(q.after);
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    if (after !== undefined && !(Number.isInteger(after) && after >= 0)) {
      throw new ConfirmaError('invalid_cursor', 'after must be an audit entry id', { field: 'after' });
    }
    if (!(Number.isInteger(limit) && limit >= 1 && limit <= 500)) {
      throw new ConfirmaError('invalid_query', 'limit must be an integer from 1 to 500', { field: 'limit' });
    }
    const entries = await store.listAudit(after, limit);
    const last = entries[entries.length - 1];
    return {
      data: entries.map((e) => ({ ...e, at: new Date(e.at).toISOString() })),
      nextCursor: entries.length === limit && last !== undefined ? String(last.id) : null,
    };
  });
}
