import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { checkUrlDestinationResolved } from '../../dispatch/ssrf.js';
import { newId } from '../../domain/ids.js';
import type { EpaycoCredentials, MerchantPatch } from '../../domain/merchant.js';
import { ConfirmaError } from '../../errors.js';
import { pKeyOwner } from '../../formats/epayco.js';
import { keyringOf } from '../../signing/keyring.js';
import { sealSigningSecret } from '../../signing/sealed-secrets.js';
import { generateSecret } from '../../signing/standard-webhooks.js';
import { audit } from '../audit.js';
import { authOf, generateApiKey, requireMerchantVisible } from '../auth.js';
import {
  epaycoNotUsed,
  MERCHANT_SELF_PATCH_FIELDS,
  merchantPatchInput,
  newMerchantInput,
  type EpaycoInput,
} from '../merchant-input.js';
import { AUTH, BODY, errorResponses, IdParams, NoBody, PageQuery, pageSize } from '../schemas/common.js';
import { Merchant, MerchantCreated, MerchantPage, MerchantWithBreaker, Replayed, SecretRotated } from '../schemas/merchant.js';
import { ref } from '../schemas/schema.js';
import type { RouteContext } from '../server.js';
import { breakerView, merchantView } from '../views.js';

const MerchantId = IdParams('Merchant id');
const tags = ['merchants'];
/** What a merchant's settings may be refused with, past the body's shape. */
const SETTINGS = [
  'card_number_refused',
  'invalid_url',
  'destination_not_allowed',
  'invalid_retry_schedule',
  'master_key_not_configured',
] as const;

/**
 * Merchants. Creating and listing are the admin's; a merchant key may read its own merchant,
 * change its own url, timeout, retry schedule, enabled flag and ePayco credentials, rotate its
 * secret and replay its dead confirmations. The signing secret and the API key are shown once, in
 * the 201 of the create; the ePayco pKey is sealed before it is stored and never shown again.
 */
export function merchantRoutes(fastify: FastifyInstance, ctx: RouteContext): void {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { store } = ctx;
  const keyring = keyringOf(ctx.config);
  const inputs = ctx.merchantInputs;

  /** Seals the p_key for this merchant; refuses when the server has no master key. */
  function seal(merchantId: string, input: EpaycoInput): EpaycoCredentials {
    if (keyring === undefined) {
      throw new ConfirmaError(
        'master_key_not_configured',
        'epayco credentials need CONFIRMA_MASTER_KEY on the server (32 random bytes, hex or base64) to encrypt pKey; nothing was stored',
        { field: 'epayco' },
      );
    }
    return { custId: input.custId, sealedPKey: keyring.seal(input.pKey, pKeyOwner(merchantId)) };
  }

  /** The URL's host, if a name, must not resolve to a refused address now (the connect-time guard re-checks every attempt). */
  async function requireResolvedDestination(url: string): Promise<void> {
    const check = await checkUrlDestinationResolved(url, ctx.merchantRules.allowList, ctx.resolve);
    if (!check.ok) throw new ConfirmaError('destination_not_allowed', `url ${check.reason}`, { field: 'url' });
  }

  app.post(
    '/v1/merchants',
    {
      config: { adminOnly: true },
      schema: {
        operationId: 'createMerchant',
        summary: 'Create a merchant (admin); returns its secret and API key once',
        tags,
        body: inputs.NewMerchant,
        response: {
          201: { ...ref(MerchantCreated), description: 'Created' },
          ...errorResponses(...AUTH, ...BODY, ...SETTINGS, 'forbidden'),
        },
      },
    },
    async (request, reply) => {
      const input = newMerchantInput(request.body, ctx.merchantRules);
      await requireResolvedDestination(input.url);
      const id = newId('mer');
      const epayco = input.epayco === null ? null : seal(id, input.epayco);
      const secret = generateSecret();
      const apiKey = generateApiKey();
      const merchant = await store.createMerchant({ ...input, id, epayco }, sealSigningSecret(keyring, id, secret), {
        id: newId('key'),
        hash: apiKey.hash,
        prefix: apiKey.prefix,
      });
      await audit(store, request, 'merchant.created', merchant.id, { name: merchant.name });
      reply.code(201);
      return { ...merchantView(merchant), secret, apiKey: apiKey.key };
    },
  );

  app.get(
    '/v1/merchants',
    {
      config: { adminOnly: true },
      schema: {
        operationId: 'listMerchants',
        summary: 'List merchants (admin)',
        tags,
        querystring: PageQuery,
        response: {
          200: { ...ref(MerchantPage), description: 'A page' },
          ...errorResponses(...AUTH, 'invalid_query', 'invalid_cursor', 'forbidden'),
        },
      },
    },
    async (request) => {
      const limit = pageSize(request.query.limit);
      const merchants = await store.listMerchants(request.query.after, limit);
      const last = merchants[merchants.length - 1];
      return { data: merchants.map(merchantView), nextCursor: merchants.length === limit && last !== undefined ? last.id : null };
    },
  );

  app.get(
    '/v1/merchants/:id',
    {
      schema: {
        operationId: 'getMerchant',
        summary: 'Get a merchant (admin or the merchant itself), with its circuit breaker as this node sees it',
        tags,
        params: MerchantId,
        response: {
          200: { ...ref(MerchantWithBreaker), description: 'The merchant' },
          ...errorResponses(...AUTH, 'invalid_path', 'merchant_not_found'),
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      requireMerchantVisible(authOf(request), id);
      const merchant = await store.getMerchant(id);
      if (merchant === undefined) throw new ConfirmaError('merchant_not_found', `merchant ${id} does not exist`);
      // This node's view of the breaker: each dispatching node keeps its own (see README).
      return { ...merchantView(merchant), breaker: ctx.breakerOf === undefined ? null : breakerView(ctx.breakerOf(id)) };
    },
  );

  app.patch(
    '/v1/merchants/:id',
    {
      schema: {
        operationId: 'updateMerchant',
        summary: 'Change a merchant; enabled: true re-enables a disabled endpoint and unparks its confirmations',
        tags,
        params: MerchantId,
        body: inputs.MerchantPatch,
        response: {
          200: { ...ref(Merchant), description: 'The merchant' },
          ...errorResponses(...AUTH, ...BODY, ...SETTINGS, 'invalid_path', 'forbidden', 'merchant_not_found'),
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      const auth = authOf(request);
      requireMerchantVisible(auth, id);
      const input = merchantPatchInput(request.body, ctx.merchantRules);
      if (input.url !== undefined) await requireResolvedDestination(input.url);
      if (auth.scope.kind === 'merchant') {
        const denied = Object.keys(input).find((k) => !MERCHANT_SELF_PATCH_FIELDS.includes(k));
        if (denied !== undefined) {
          throw new ConfirmaError(
            'forbidden',
            `${denied} can only be changed with the admin key; a merchant key may change ${MERCHANT_SELF_PATCH_FIELDS.join(', ')}`,
            { field: denied },
          );
        }
      }
      const { epayco, ...rest } = input;
      if ((rest.format === 'epayco' && epayco === undefined) || (rest.format === undefined && epayco !== undefined)) {
        const current = await store.getMerchant(id);
        if (current === undefined) throw new ConfirmaError('merchant_not_found', `merchant ${id} does not exist`);
        // Switching to epayco needs credentials, given now or stored before.
        if (rest.format === 'epayco' && current.epayco === null) {
          throw new ConfirmaError('missing_field', 'epayco is required when format becomes epayco: { custId, pKey }', {
            field: 'epayco',
          });
        }
        if (rest.format === undefined && current.format !== 'epayco') throw epaycoNotUsed(current.format);
      }
      // A switch away from epayco removes the stored credentials: a pKey nothing uses is not kept
      // (switching back asks for them again).
      let patch: MerchantPatch = rest;
      if (epayco !== undefined) patch = { ...rest, epayco: seal(id, epayco) };
      else if (rest.format !== undefined && rest.format !== 'epayco') patch = { ...rest, epayco: null };
      const merchant = await store.updateMerchant(id, patch, Date.now());
      if (merchant === undefined) throw new ConfirmaError('merchant_not_found', `merchant ${id} does not exist`);
      await audit(store, request, 'merchant.updated', id, { fields: Object.keys(patch) });
      ctx.onMerchantChanged?.(id);
      return merchantView(merchant);
    },
  );

  app.post(
    '/v1/merchants/:id/secret/rotate',
    {
      schema: {
        operationId: 'rotateSecret',
        summary: 'New signing secret; the previous one keeps signing until previousSecretExpiresAt',
        tags,
        params: MerchantId,
        body: NoBody,
        response: {
          200: { ...ref(SecretRotated), description: 'The new secret (shown once)' },
          ...errorResponses(...AUTH, 'invalid_path', 'merchant_not_found', 'unknown_field', 'invalid_body'),
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      requireMerchantVisible(authOf(request), id);
      const secret = generateSecret();
      const now = Date.now();
      const previousSecretExpiresAt = now + ctx.config.secretOverlapMs;
      if (!(await store.rotateSecret(id, sealSigningSecret(keyring, id, secret), now, previousSecretExpiresAt))) {
        throw new ConfirmaError('merchant_not_found', `merchant ${id} does not exist`);
      }
      await audit(store, request, 'merchant.secret_rotated', id, {
        previousSecretExpiresAt: new Date(previousSecretExpiresAt).toISOString(),
      });
      ctx.onMerchantChanged?.(id);
      return { secret, previousSecretExpiresAt: new Date(previousSecretExpiresAt).toISOString() };
    },
  );

  app.post(
    '/v1/merchants/:id/replay',
    {
      schema: {
        operationId: 'replayDead',
        summary: 'Re-queue every dead confirmation of the merchant',
        tags,
        params: MerchantId,
        body: NoBody,
        response: {
          202: { ...ref(Replayed), description: 'Re-queued' },
          ...errorResponses(...AUTH, 'invalid_path', 'merchant_not_found', 'unknown_field', 'invalid_body'),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      requireMerchantVisible(authOf(request), id);
      if ((await store.getMerchant(id)) === undefined) {
        throw new ConfirmaError('merchant_not_found', `merchant ${id} does not exist`);
      }
      const requeued = await store.replayDead(id, Date.now());
      await audit(store, request, 'merchant.replayed', id, { requeued });
      if (requeued > 0) {
        ctx.onMerchantChanged?.(id);
        ctx.onQueued?.();
      }
      reply.code(202);
      return { requeued };
    },
  );
}
