import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { ApiKeyRecord } from '../../domain/api-key.js';
import { newId } from '../../domain/ids.js';
import { ConfirmaError } from '../../errors.js';
import { audit } from '../audit.js';
import { generateApiKey } from '../auth.js';
import { refuseCardNumber } from '../card-numbers.js';
import { AUTH, BODY, errorResponses, IdParams, NoBody, pageSize } from '../schemas/common.js';
import { ApiKey, AuditPage, AuditQuery, KeyCreated, KeyList, NewKey } from '../schemas/key.js';
import { ref } from '../schemas/schema.js';
import type { RouteContext } from '../server.js';

const tags = ['keys'];

/** The JSON of a key: never the key or its hash. */
export function keyView(k: ApiKeyRecord) {
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
export function keyRoutes(fastify: FastifyInstance, ctx: RouteContext): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { store } = ctx;

  app.post(
    '/v1/keys',
    {
      config: { adminOnly: true },
      schema: {
        operationId: 'createKey',
        summary: 'Create an API key (admin): for a merchant, or an admin key without merchantId; the key is shown once',
        tags,
        body: NewKey,
        response: {
          201: { ...ref(KeyCreated), description: 'Created' },
          ...errorResponses(...AUTH, ...BODY, 'card_number_refused', 'forbidden', 'merchant_not_found'),
        },
      },
    },
    async (request, reply) => {
      const merchantId = request.body?.merchantId ?? null;
      const name = request.body?.name ?? null;
      if (name !== null) refuseCardNumber(name, 'name');
      if (merchantId !== null && (await store.getMerchant(merchantId)) === undefined) {
        throw new ConfirmaError('merchant_not_found', `merchant ${merchantId} does not exist`, { field: 'merchantId' });
      }
      const generated = generateApiKey(merchantId === null ? 'admin' : 'merchant');
      const record = await store.createApiKey(
        { id: newId('key'), merchantId, prefix: generated.prefix, hash: generated.hash, name },
        Date.now(),
      );
      await audit(store, request, 'key.created', record.id, { merchantId: record.merchantId, name: record.name });
      reply.code(201);
      return { ...keyView(record), key: generated.key };
    },
  );

  app.get(
    '/v1/keys',
    {
      config: { adminOnly: true },
      schema: {
        operationId: 'listKeys',
        summary: 'List API keys (admin); never the keys themselves',
        tags,
        response: { 200: { ...ref(KeyList), description: 'Every key' }, ...errorResponses(...AUTH, 'forbidden') },
      },
    },
    async () => ({ data: (await store.listApiKeys()).map(keyView) }),
  );

  app.post(
    '/v1/keys/:id/revoke',
    {
      config: { adminOnly: true },
      schema: {
        operationId: 'revokeKey',
        summary: 'Revoke an API key (admin): it answers 401 from the next request on',
        tags,
        params: IdParams('Key id'),
        body: NoBody,
        response: {
          200: { ...ref(ApiKey), description: 'The revoked key' },
          ...errorResponses(...AUTH, 'invalid_path', 'forbidden', 'not_found', 'unknown_field', 'invalid_body'),
        },
      },
    },
    async (request) => {
      const record = await store.revokeApiKey(request.params.id, Date.now());
      if (record === undefined) throw new ConfirmaError('not_found', `key ${request.params.id} does not exist`);
      await audit(store, request, 'key.revoked', record.id, { merchantId: record.merchantId });
      return keyView(record);
    },
  );

  app.get(
    '/v1/audit',
    {
      config: { adminOnly: true },
      schema: {
        operationId: 'listAudit',
        summary: 'The audit log (admin): key creation and revocation, merchant changes, rotations, replays',
        tags,
        querystring: AuditQuery,
        response: {
          200: { ...ref(AuditPage), description: 'A page, oldest first' },
          ...errorResponses(...AUTH, 'forbidden', 'invalid_query', 'invalid_cursor'),
        },
      },
    },
    async (request) => {
      const after = request.query.after === undefined ? undefined : Number(request.query.after);
      const limit = pageSize(request.query.limit);
      const entries = await store.listAudit(after, limit);
      const last = entries[entries.length - 1];
      return {
        data: entries.map((e) => ({ ...e, at: new Date(e.at).toISOString() })),
        nextCursor: entries.length === limit && last !== undefined ? String(last.id) : null,
      };
    },
  );
}
