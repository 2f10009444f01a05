import { Type, type Static } from '@sinclair/typebox';
import type { Config } from '../../config.js';
import { FORMATS } from '../../domain/merchant.js';
import { NO_PAN, Time } from './common.js';
import { LIMITS, merchantTimeoutMsMax } from './limits.js';
import { answers, closed, nullable, ref, stringEnum } from './schema.js';

/**
 * Merchants: what create and PATCH accept, and what the routes answer. The settings' bounds
 * depend on the configuration (the longest `timeoutMs` fits the lease; https may be required),
 * so the request schemas are built per server. What a schema cannot say runs after it
 * (`merchant-input.ts`): the URL's destination, card numbers, epayco credentials against the format.
 */

/** `epayco: { custId, pKey }`: printable ASCII without spaces or `^` (the signature's separator). */
const epaycoText = (max: number, description: string) =>
  Type.String({
    minLength: 1,
    maxLength: max,
    pattern: '^[\\x21-\\x5d\\x5f-\\x7e]+$',
    description,
    ...answers({ rule: 'may hold only printable ASCII characters other than space and ^' }),
  });

export const EpaycoInput = closed(
  {
    custId: epaycoText(LIMITS.epaycoCustIdMax, `p_cust_id_cliente. ${NO_PAN}`),
    pKey: epaycoText(LIMITS.epaycoPKeyMax, 'p_key: stored encrypted (needs CONFIRMA_MASTER_KEY), never returned.'),
  },
  {
    description:
      'Credentials of the epayco format; required when format is epayco, refused (invalid_field) for any other format. ' +
      'A merchant switched to standard has them removed. See docs/formats.md.',
  },
);
export type EpaycoInputBody = Static<typeof EpaycoInput>;

const scheduleRule = `must be a list of 1 to ${LIMITS.retryScheduleMaxItems} whole numbers of seconds between 0 and ${LIMITS.retryDelayMaxSec}`;

/** The request schemas of merchants under one configuration. */
export function merchantInputs(config: Pick<Config, 'leaseMs' | 'requireHttps'>) {
  const settings = {
    name: Type.String({ minLength: 1, maxLength: LIMITS.nameMax, description: NO_PAN }),
    url: Type.String({
      maxLength: LIMITS.urlMax,
      description:
        `Absolute ${config.requireHttps ? 'https' : 'http(s)'} URL; private, loopback and reserved addresses are refused ` +
        `(destination_not_allowed). ${NO_PAN} (as written and percent-decoded)`,
      ...answers({ code: 'invalid_url', rule: 'must be an absolute http(s) URL such as "https://shop.example/confirm"' }),
    }),
    format: stringEnum(FORMATS),
    maxInFlight: nullable(Type.Integer({ minimum: 1, maximum: LIMITS.maxInFlightMax })),
    timeoutMs: nullable(Type.Integer({ minimum: LIMITS.timeoutMsMin, maximum: merchantTimeoutMsMax(config) })),
    retrySchedule: nullable(
      Type.Array(
        Type.Integer({
          minimum: 0,
          maximum: LIMITS.retryDelayMaxSec,
          ...answers({ code: 'invalid_retry_schedule', rule: `is not valid: retrySchedule ${scheduleRule}` }),
        }),
        {
          minItems: 1,
          maxItems: LIMITS.retryScheduleMaxItems,
          description: 'Delays in seconds before attempts 1..n; null = the server default.',
          ...answers({ code: 'invalid_retry_schedule', rule: scheduleRule }),
        },
      ),
    ),
    epayco: EpaycoInput,
  };
  const optional = {
    format: Type.Optional(settings.format),
    maxInFlight: Type.Optional(settings.maxInFlight),
    timeoutMs: Type.Optional(settings.timeoutMs),
    retrySchedule: Type.Optional(settings.retrySchedule),
    epayco: Type.Optional(settings.epayco),
  };
  return {
    /** `POST /v1/merchants`. */
    NewMerchant: closed(
      { name: settings.name, url: settings.url, ...optional },
      {
        title: 'NewMerchant',
        examples: [{ name: 'Tienda Norte', url: 'https://tienda.example/confirm', retrySchedule: [0, 5, 300] }],
      },
    ),
    /** `PATCH /v1/merchants/:id`: at least one field; null resets maxInFlight, timeoutMs or retrySchedule. */
    MerchantPatch: closed(
      {
        name: Type.Optional(settings.name),
        url: Type.Optional(settings.url),
        ...optional,
        enabled: Type.Optional(
          Type.Boolean({ description: 'true re-enables a disabled endpoint and unparks its confirmations.' }),
        ),
      },
      {
        title: 'MerchantPatch',
        minProperties: 1,
        description:
          'A merchant key may change only url, timeoutMs, retrySchedule, enabled and epayco. null resets to the server default.',
      },
    ),
  };
}

export type MerchantInputs = ReturnType<typeof merchantInputs>;
export type NewMerchantBody = Static<MerchantInputs['NewMerchant']>;
export type MerchantPatchBody = Static<MerchantInputs['MerchantPatch']>;

// --- answers ---

const merchantProps = {
  id: Type.String(),
  name: Type.String(),
  url: Type.String(),
  format: stringEnum(FORMATS),
  maxInFlight: nullable(Type.Integer()),
  timeoutMs: nullable(Type.Integer()),
  retrySchedule: Type.Unsafe<readonly number[] | null>(nullable(Type.Array(Type.Integer()))),
  epayco: nullable(Type.Object({ custId: Type.String() }, { description: 'The pKey is never returned.' })),
  enabled: Type.Boolean(),
  disabledAt: nullable(Time()),
  disabledReason: nullable(Type.String()),
  createdAt: Time(),
  updatedAt: Time(),
};

export const Merchant = Type.Object(merchantProps, { $id: 'Merchant' });

export const Breaker = Type.Object(
  {
    state: stringEnum(['closed', 'open', 'half_open'] as const),
    since: nullable(Time({ description: 'When it entered this state; null while closed since this node started.' })),
    nextProbeAt: nullable(Time({ description: 'When the next probe may go, while open.' })),
    failedProbes: Type.Integer({ minimum: 0, description: 'Probes that failed since it last closed.' }),
    window: Type.Object(
      { attempts: Type.Integer({ minimum: 0 }), failures: Type.Integer({ minimum: 0 }) },
      { description: 'Closed: attempts and failures in the sliding window now. Open or half_open: the counts that opened it.' },
    ),
  },
  { $id: 'Breaker' },
);

export const MerchantWithBreaker = Type.Object(
  {
    ...merchantProps,
    breaker: Type.Unsafe<Static<typeof Breaker> | null>({
      anyOf: [ref(Breaker), Type.Null()],
      description: "This node's view of the merchant's circuit breaker; null on a node that does not dispatch (role api).",
    }),
  },
  { $id: 'MerchantWithBreaker' },
);

export const MerchantCreated = Type.Object(
  {
    ...merchantProps,
    secret: Type.String({ pattern: '^whsec_', description: 'Signing secret; shown only here.' }),
    apiKey: Type.String({ pattern: '^cfm_mk_', description: 'Merchant API key; shown only here.' }),
  },
  { $id: 'MerchantCreated' },
);

export const MerchantPage = Type.Object(
  { data: Type.Array(ref(Merchant)), nextCursor: nullable(Type.String()) },
  { $id: 'MerchantPage' },
);

export const SecretRotated = Type.Object(
  {
    secret: Type.String({ pattern: '^whsec_', description: 'The new secret; shown only here.' }),
    previousSecretExpiresAt: Time({ description: 'The previous secret keeps signing until then.' }),
  },
  { $id: 'SecretRotated' },
);

export const Replayed = Type.Object({ requeued: Type.Integer({ minimum: 0 }) }, { $id: 'Replayed' });
