import type { Config } from '../config.js';
import { AUDIT_ACTIONS } from '../domain/audit.js';
import { CONFIRMATION_STATES } from '../domain/confirmation.js';
import { FORMATS } from '../domain/merchant.js';
import { STATUSES } from '../domain/status.js';
import { errorCatalog } from '../errors.js';
import {
  AUTH,
  errors,
  idParam,
  input,
  int,
  json,
  nullable,
  obj,
  query,
  ref,
  str,
  time,
  type Props,
  type Schema,
} from './openapi-schema.js';
import { LIMITS, merchantTimeoutMsMax } from './schemas/limits.js';

/**
 * The OpenAPI 3.1 document, written by hand next to the code it describes. Limits, enums and error
 * codes are taken from the same constants the validators use, so they cannot drift; a test checks
 * that every registered route appears here and nothing else does.
 */

export function openapiDocument(config: Config): Record<string, unknown> {
  const timeoutMsMax = merchantTimeoutMsMax(config);
  const retrySchedule = {
    type: 'array',
    minItems: 1,
    maxItems: LIMITS.retryScheduleMaxItems,
    items: int(0, LIMITS.retryDelayMaxSec),
    description: 'Delays in seconds before attempts 1..n; null = the server default.',
  };
  // Quoted wherever a field is read for card numbers (docs/security.md, "Card numbers").
  const noPan = 'Card numbers (13-19 digits passing Luhn, in any digits and spacing) are refused: card_number_refused.';
  const merchantSettings = {
    name: str({ minLength: 1, maxLength: LIMITS.nameMax, description: noPan }),
    url: str({
      format: 'uri',
      maxLength: LIMITS.urlMax,
      description:
        `Absolute ${config.requireHttps ? 'https' : 'http(s)'} URL; ` +
        'private, loopback and reserved addresses are refused. ' +
        `${noPan} (as written and percent-decoded)`,
    }),
    format: { type: 'string', enum: [...FORMATS] },
    maxInFlight: nullable(int(1, LIMITS.maxInFlightMax)),
    timeoutMs: nullable(int(LIMITS.timeoutMsMin, timeoutMsMax)),
    retrySchedule: nullable(retrySchedule),
    epayco: ref('EpaycoCredentials'),
  };
  const scalar = {
    oneOf: [str({ maxLength: LIMITS.metadataStringMax }), { type: 'number' }, { type: 'boolean' }, { type: 'null' }],
  };

  const merchantProps: Props = {
    id: str(),
    name: str(),
    url: str(),
    format: { type: 'string', enum: [...FORMATS] },
    maxInFlight: nullable({ type: 'integer' }),
    timeoutMs: nullable({ type: 'integer' }),
    retrySchedule: nullable({ type: 'array', items: { type: 'integer' } }),
    epayco: nullable(obj({ custId: str() })),
    enabled: { type: 'boolean' },
    disabledAt: nullable(time()),
    disabledReason: nullable(str()),
    createdAt: time(),
    updatedAt: time(),
  };
  const transactionProps: Props = {
    id: str(),
    merchantId: str(),
    reference: str(),
    amount: str(),
    currency: str(),
    status: { type: 'string', enum: [...STATUSES] },
    customer: nullable(ref('Customer')),
    metadata: nullable(ref('Metadata')),
    createdAt: time(),
    updatedAt: time(),
  };
  const summaryProps: Props = {
    id: str({ description: 'Also the webhook-id header.' }),
    seq: { type: 'integer', minimum: 1 },
    type: str({ description: 'transaction.<status>' }),
    state: { type: 'string', enum: [...CONFIRMATION_STATES] },
    attempts: { type: 'integer', minimum: 0 },
    dueAt: nullable(time()),
    deliveredAt: nullable(time()),
    lastError: nullable(str()),
    createdAt: time(),
  };
  const keyProps: Props = {
    id: str(),
    merchantId: nullable(str()),
    prefix: str(),
    name: nullable(str()),
    createdAt: time(),
    revokedAt: nullable(time()),
  };
  const confirmationProps: Props = { ...summaryProps, transactionId: str(), merchantId: str() };

  const newTransactionProps: Props = {
    id: str({
      pattern: '^[A-Za-z0-9_.:-]{1,64}$',
      description: `Your id; generated when absent. Unique per merchant: another merchant's transaction with the same id is no conflict. ${noPan}`,
    }),
    merchantId: str({ minLength: 1, maxLength: LIMITS.merchantIdMax }),
    reference: str({ minLength: 1, maxLength: LIMITS.referenceMax, description: noPan }),
    amount: str({
      pattern: '^(0|[1-9][0-9]{0,17})(\\.[0-9]+)?$',
      description: "Decimal string > 0 with no more decimals than the currency's minor unit.",
    }),
    currency: str({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code, e.g. COP.' }),
    status: { type: 'string', enum: [...STATUSES] },
    customer: nullable(ref('Customer')),
    metadata: nullable(ref('Metadata')),
  };

  const schemas: Record<string, Schema> = {
    ErrorBody: obj(
      {
        code: { type: 'string', enum: Object.keys(errorCatalog) },
        message: str(),
        field: str({ description: 'Dotted path of the offending field, e.g. transactions.3.amount.' }),
      },
      ['code', 'message'],
    ),
    Error: obj({ error: ref('ErrorBody') }),
    Merchant: obj(merchantProps),
    NewMerchant: input(merchantSettings, ['name', 'url']),
    MerchantPatch: {
      ...input({ ...merchantSettings, enabled: { type: 'boolean' } }, []),
      minProperties: 1,
      description:
        'A merchant key may change only url, timeoutMs, retrySchedule, enabled and epayco. null resets to the server default.',
    },
    MerchantWithBreaker: obj({
      ...merchantProps,
      breaker: {
        ...nullable(ref('Breaker')),
        description: "This node's view of the merchant's circuit breaker; null on a node that does not dispatch (role api).",
      },
    }),
    Breaker: obj({
      state: { type: 'string', enum: ['closed', 'open', 'half_open'] },
      since: { ...nullable(time()), description: 'When it entered this state; null while closed since this node started.' },
      nextProbeAt: { ...nullable(time()), description: 'When the next probe may go, while open.' },
      failedProbes: { type: 'integer', minimum: 0, description: 'Probes that failed since it last closed.' },
      window: {
        ...obj({ attempts: { type: 'integer', minimum: 0 }, failures: { type: 'integer', minimum: 0 } }),
        description: 'Closed: attempts and failures in the sliding window now. Open or half_open: the counts that opened it.',
      },
    }),
    MerchantCreated: obj({
      ...merchantProps,
      secret: str({ pattern: '^whsec_', description: 'Signing secret; shown only here.' }),
      apiKey: str({ pattern: '^cfm_mk_', description: 'Merchant API key; shown only here.' }),
    }),
    EpaycoCredentials: {
      ...input(
        {
          custId: str({ minLength: 1, maxLength: LIMITS.epaycoCustIdMax, description: `p_cust_id_cliente. ${noPan}` }),
          pKey: str({
            minLength: 1,
            maxLength: LIMITS.epaycoPKeyMax,
            description: 'p_key: stored encrypted (needs CONFIRMA_MASTER_KEY), never returned.',
          }),
        },
        ['custId', 'pKey'],
      ),
      description:
        'Credentials of the epayco format; required when format is epayco, refused (invalid_field) for any other format. ' +
        'A merchant switched to standard has them removed. See docs/formats.md.',
    },
    MerchantPage: obj({ data: { type: 'array', items: ref('Merchant') }, nextCursor: nullable(str()) }),
    Customer: input(
      {
        name: str({ minLength: 1, maxLength: LIMITS.customerNameMax, description: noPan }),
        phone: str({ minLength: 1, maxLength: LIMITS.customerPhoneMax, pattern: '^[0-9 +\\-()]+$' }),
      },
      [],
    ),
    Metadata: {
      type: 'object',
      maxProperties: LIMITS.metadataMaxKeys,
      propertyNames: { minLength: 1, maxLength: LIMITS.metadataKeyMax },
      additionalProperties: scalar,
      description:
        `Flat object; at most ${LIMITS.metadataMaxBytes} bytes as JSON. Numbers beyond ±${Number.MAX_SAFE_INTEGER} ` +
        `are refused (send them as strings). ${noPan} (in keys, strings and numbers)`,
    },
    NewTransaction: input(
      newTransactionProps,
      ['merchantId', 'reference', 'amount', 'currency', 'status'],
    ),
    BatchItem: input(
      {
        ...newTransactionProps,
        idempotencyKey: str({
          minLength: 1,
          maxLength: LIMITS.idempotencyKeyMax,
          pattern: '^[\\x20-\\x7e]+$',
          description:
            "This item's own idempotency key (same rules as the header, card numbers refused); it wins over the request's Idempotency-Key. " +
            'Same key and same item answer the first result again; a different item answers idempotency_conflict.',
        }),
      },
      ['merchantId', 'reference', 'amount', 'currency', 'status'],
    ),
    StatusPatch: input({ status: { type: 'string', enum: [...STATUSES] } }, ['status']),
    Transaction: obj(transactionProps),
    ConfirmationSummary: obj(summaryProps),
    TransactionWithConfirmations: obj({
      ...transactionProps,
      confirmations: { type: 'array', items: ref('ConfirmationSummary') },
    }),
    ReferenceMatches: obj({
      data: { type: 'array', maxItems: LIMITS.referenceMatchesMax, items: ref('TransactionWithConfirmations') },
    }),
    Confirmation: obj(confirmationProps),
    Attempt: obj({
      number: { type: 'integer', minimum: 1 },
      startedAt: time(),
      durationMs: {
        type: 'integer',
        description: 'From the moment the request went on a socket to the end of the answer: the merchant\'s time, not ours',
      },
      statusCode: nullable({ type: 'integer' }),
      errorKind: nullable(str()),
      errorMessage: nullable(str()),
      responseSnippet: nullable(str()),
      outcome: str({ description: 'delivered | retry | dead | disable' }),
    }),
    ConfirmationWithAttempts: obj({ ...confirmationProps, attempts: { type: 'array', items: ref('Attempt') } }),
    ConfirmationPage: obj({ data: { type: 'array', items: ref('Confirmation') }, nextCursor: nullable(str()) }),
    BatchRequest: input(
      { transactions: { type: 'array', minItems: 1, maxItems: LIMITS.batchMax, items: ref('BatchItem') } },
      ['transactions'],
    ),
    BatchResult: {
      oneOf: [
        obj({ index: { type: 'integer' }, ok: { const: true }, status: { enum: [200, 201] }, transaction: ref('Transaction') }),
        obj({ index: { type: 'integer' }, ok: { const: false }, error: ref('ErrorBody') }),
      ],
    },
    BatchResponse: obj({ results: { type: 'array', items: ref('BatchResult') } }),
    Health: obj({ ok: { type: 'boolean' }, reason: str() }, ['ok']),
  };

  const idempotencyKey = {
    name: 'Idempotency-Key',
    in: 'header',
    required: false,
    description:
      'Same key and same body within this API key answer the first response again; a different body answers 409. ' +
      noPan,
    schema: str({ minLength: 1, maxLength: LIMITS.idempotencyKeyMax, pattern: '^[\\x20-\\x7e]+$' }),
  };
  const page = [
    query('after', str({ maxLength: LIMITS.cursorMax }), 'nextCursor of the previous page.'),
    query('limit', int(1, LIMITS.pageMax, { default: LIMITS.pageDefault }), 'Page size.'),
  ];
  // Ids are unique per merchant, not across merchants (src/store/transaction-key.ts).
  const transactionMerchant = query(
    'merchantId',
    str({ minLength: 1, maxLength: LIMITS.merchantIdMax }),
    "Whose transaction. A merchant key means its own (naming another answers 404); the admin names one, or leaves it out for an id only one merchant uses.",
  );
  const transactionIdRule =
    "Transaction ids are unique per merchant: two merchants may each have a transaction with the same id. A merchant key acts on its own merchant's transaction. " +
    'The admin names the merchant with merchantId; without it the id is looked up across merchants, and an id several merchants use answers 409 ambiguous_transaction_id.';
  const bodyErrors = [
    'invalid_json',
    'invalid_encoding',
    'invalid_body',
    'unknown_field',
    'missing_field',
    'invalid_field',
    'unsupported_media_type',
    'body_too_large',
  ] as const;
  const open = { security: [] as unknown[] };

  const paths: Record<string, Record<string, unknown>> = {
    '/healthz': {
      get: {
        ...open,
        operationId: 'health',
        summary: 'Liveness',
        responses: { '200': { description: 'Alive', ...json(ref('Health')) } },
      },
    },
    '/readyz': {
      get: {
        ...open,
        operationId: 'ready',
        summary: 'Readiness: not shutting down and the database answers',
        responses: {
          '200': { description: 'Ready', ...json(ref('Health')) },
          '503': { description: 'Not ready', ...json(ref('Health')) },
        },
      },
    },
    '/metrics': {
      get: {
        ...open,
        operationId: 'metrics',
        summary: "Prometheus metrics: attempts by outcome, attempt durations, commit batches, in flight, confirmations by state (the last read, with its age and whether the store answered), event-loop delay, the process's CPU, memory and GC",
        responses: { '200': { description: 'Prometheus text exposition', content: { 'text/plain': { schema: str() } } } },
      },
    },
    '/': {
      get: {
        ...open,
        operationId: 'dashboard',
        summary: "Dashboard: this node's rates (ingested, delivered, retries per second), in flight, event-loop delay, and the store's confirmations not yet delivered, by state; read from /metrics, no merchant data",
        responses: { '200': { description: 'HTML page', content: { 'text/html': { schema: str() } } } },
      },
    },
    '/docs': {
      get: {
        ...open,
        operationId: 'docs',
        summary: 'This API as a page: every operation with its summary, answers and whether it needs a key',
        responses: { '200': { description: 'HTML page', content: { 'text/html': { schema: str() } } } },
      },
    },
    '/ui.js': {
      get: {
        ...open,
        operationId: 'pageScript',
        summary: 'The script of the dashboard and the docs page',
        responses: { '200': { description: 'JavaScript', content: { 'text/javascript': { schema: str() } } } },
      },
    },
    '/favicon.svg': {
      get: {
        ...open,
        operationId: 'pageIcon',
        summary: 'The icon of the dashboard and the docs page',
        responses: { '200': { description: 'SVG image', content: { 'image/svg+xml': { schema: str() } } } },
      },
    },
    '/ui.css': {
      get: {
        ...open,
        operationId: 'pageStyle',
        summary: 'The style of the dashboard and the docs page',
        responses: { '200': { description: 'CSS', content: { 'text/css': { schema: str() } } } },
      },
    },
    '/openapi.json': {
      get: {
        ...open,
        operationId: 'openapi',
        summary: 'This document',
        responses: { '200': { description: 'OpenAPI 3.1', ...json({ type: 'object' }) } },
      },
    },
    '/v1/merchants': {
      post: {
        operationId: 'createMerchant',
        summary: 'Create a merchant (admin); returns its secret and API key once',
        requestBody: { required: true, ...json(ref('NewMerchant')) },
        responses: {
          '201': { description: 'Created', ...json(ref('MerchantCreated')) },
          ...errors(
            ...AUTH,
            ...bodyErrors,
            'card_number_refused',
            'invalid_url',
            'destination_not_allowed',
            'invalid_retry_schedule',
            'master_key_not_configured',
            'forbidden',
          ),
        },
      },
      get: {
        operationId: 'listMerchants',
        summary: 'List merchants (admin)',
        parameters: page,
        responses: {
          '200': { description: 'A page', ...json(ref('MerchantPage')) },
          ...errors(...AUTH, 'invalid_query', 'invalid_cursor', 'forbidden'),
        },
      },
    },
    '/v1/merchants/{id}': {
      get: {
        operationId: 'getMerchant',
        summary: 'Get a merchant (admin or the merchant itself), with its circuit breaker as this node sees it',
        parameters: [idParam('Merchant id')],
        responses: {
          '200': { description: 'The merchant', ...json(ref('MerchantWithBreaker')) },
          ...errors(...AUTH, 'merchant_not_found'),
        },
      },
      patch: {
        operationId: 'updateMerchant',
        summary: 'Change a merchant; enabled: true re-enables a disabled endpoint and unparks its confirmations',
        parameters: [idParam('Merchant id')],
        requestBody: { required: true, ...json(ref('MerchantPatch')) },
        responses: {
          '200': { description: 'The merchant', ...json(ref('Merchant')) },
          ...errors(
            ...AUTH,
            ...bodyErrors,
            'card_number_refused',
            'invalid_url',
            'destination_not_allowed',
            'invalid_retry_schedule',
            'master_key_not_configured',
            'forbidden',
            'merchant_not_found',
          ),
        },
      },
    },
    '/v1/merchants/{id}/secret/rotate': {
      post: {
        operationId: 'rotateSecret',
        summary: 'New signing secret; the previous one keeps signing until previousSecretExpiresAt',
        parameters: [idParam('Merchant id')],
        responses: {
          '200': {
            description: 'The new secret (shown once)',
            ...json(obj({ secret: str({ pattern: '^whsec_' }), previousSecretExpiresAt: time() })),
          },
          ...errors(...AUTH, 'merchant_not_found', 'unknown_field', 'invalid_body'),
        },
      },
    },
    '/v1/merchants/{id}/replay': {
      post: {
        operationId: 'replayDead',
        summary: "Re-queue every dead confirmation of the merchant",
        parameters: [idParam('Merchant id')],
        responses: {
          '202': { description: 'Re-queued', ...json(obj({ requeued: { type: 'integer', minimum: 0 } })) },
          ...errors(...AUTH, 'merchant_not_found', 'unknown_field', 'invalid_body'),
        },
      },
    },
    '/v1/transactions': {
      get: {
        operationId: 'findTransactionsByReference',
        summary:
          "Reconciliation: the transactions with the merchant's own reference, each with its confirmations, newest first",
        description:
          'A merchant key searches its own merchant (merchantId may be omitted; another merchant answers 404). ' +
          `The admin key searches every merchant unless merchantId is given. At most ${LIMITS.referenceMatchesMax} matches.`,
        parameters: [
          { ...query('reference', str({ minLength: 1, maxLength: LIMITS.referenceMax }), 'The merchant reference.'), required: true },
          query('merchantId', str(), 'Only this merchant.'),
        ],
        responses: {
          '200': { description: 'Matches (possibly none)', ...json(ref('ReferenceMatches')) },
          ...errors(...AUTH, 'invalid_query', 'merchant_not_found'),
        },
      },
      post: {
        operationId: 'createTransaction',
        summary: 'Create a transaction and its first confirmation; answered after the commit',
        parameters: [idempotencyKey],
        requestBody: { required: true, ...json(ref('NewTransaction')) },
        responses: {
          '201': { description: 'Created (durable)', ...json(ref('Transaction')) },
          '200': {
            description: 'This merchant already had this id with the same content, or an idempotent replay',
            ...json(ref('Transaction')),
          },
          ...errors(
            ...AUTH,
            ...bodyErrors,
            'card_number_refused',
            'invalid_amount',
            'invalid_currency',
            'invalid_status',
            'invalid_idempotency_key',
            'merchant_not_found',
            'transaction_exists',
            'idempotency_conflict',
            'store_unavailable',
            'shutting_down',
          ),
        },
      },
    },
    '/v1/transactions/batch': {
      post: {
        operationId: 'createTransactions',
        summary: `Create up to ${LIMITS.batchMax} transactions; one result per item`,
        parameters: [idempotencyKey],
        requestBody: { required: true, ...json(ref('BatchRequest')) },
        responses: {
          '200': { description: 'Per-item results, in request order', ...json(ref('BatchResponse')) },
          ...errors(
            ...AUTH,
            ...bodyErrors,
            'batch_too_large',
            'invalid_idempotency_key',
            'card_number_refused',
            'store_unavailable',
            'shutting_down',
          ),
        },
      },
    },
    '/v1/transactions/{id}': {
      get: {
        operationId: 'getTransaction',
        summary: 'A transaction with its confirmations',
        description: transactionIdRule,
        parameters: [idParam('Transaction id (unique per merchant)'), transactionMerchant],
        responses: {
          '200': { description: 'The transaction', ...json(ref('TransactionWithConfirmations')) },
          ...errors(...AUTH, 'invalid_query', 'merchant_not_found', 'transaction_not_found', 'ambiguous_transaction_id'),
        },
      },
      patch: {
        operationId: 'updateTransactionStatus',
        summary: 'Change the status; adds a confirmation',
        description: transactionIdRule,
        parameters: [idParam('Transaction id (unique per merchant)'), transactionMerchant],
        requestBody: { required: true, ...json(ref('StatusPatch')) },
        responses: {
          '200': { description: 'The transaction', ...json(ref('Transaction')) },
          ...errors(
            ...AUTH,
            ...bodyErrors,
            'invalid_query',
            'invalid_status',
            'merchant_not_found',
            'transaction_not_found',
            'ambiguous_transaction_id',
            'invalid_transition',
            'store_unavailable',
            'shutting_down',
          ),
        },
      },
    },
    '/v1/confirmations': {
      get: {
        operationId: 'listConfirmations',
        summary: 'List confirmations (a merchant key sees only its own)',
        parameters: [
          query('merchantId', str(), 'Only this merchant.'),
          query('state', { type: 'string', enum: [...CONFIRMATION_STATES] }, 'Only this state.'),
          ...page,
        ],
        responses: {
          '200': { description: 'A page', ...json(ref('ConfirmationPage')) },
          ...errors(...AUTH, 'invalid_query', 'invalid_cursor', 'merchant_not_found'),
        },
      },
    },
    '/v1/confirmations/{id}': {
      get: {
        operationId: 'getConfirmation',
        summary: 'A confirmation with its attempts',
        parameters: [idParam('Confirmation id (the webhook-id)')],
        responses: {
          '200': { description: 'The confirmation', ...json(ref('ConfirmationWithAttempts')) },
          ...errors(...AUTH, 'confirmation_not_found'),
        },
      },
    },
    '/v1/confirmations/{id}/redeliver': {
      post: {
        operationId: 'redeliverConfirmation',
        summary: 'Put a delivered or dead confirmation back on the queue',
        parameters: [idParam('Confirmation id')],
        responses: {
          '202': {
            description: 'Queued; state is the one it is in now (waiting or parked rows stay as they are)',
            ...json(obj({ id: str(), state: { type: 'string', enum: [...CONFIRMATION_STATES] } })),
          },
          ...errors(...AUTH, 'confirmation_not_found', 'confirmation_in_flight', 'unknown_field', 'invalid_body'),
        },
      },
    },
    '/v1/keys': {
      post: {
        operationId: 'createKey',
        summary: 'Create an API key (admin): for a merchant, or an admin key without merchantId; the key is shown once',
        requestBody: {
          required: false,
          ...json(input({ merchantId: nullable(str()), name: str({ minLength: 1, maxLength: LIMITS.nameMax, description: noPan }) }, [])),
        },
        responses: {
          '201': { description: 'Created', ...json(obj({ ...keyProps, key: str({ pattern: '^cfm_(mk|ak)_' }) })) },
          ...errors(...AUTH, ...bodyErrors, 'card_number_refused', 'forbidden', 'merchant_not_found'),
        },
      },
      get: {
        operationId: 'listKeys',
        summary: 'List API keys (admin); never the keys themselves',
        responses: {
          '200': { description: 'Every key', ...json(obj({ data: { type: 'array', items: obj(keyProps) } })) },
          ...errors(...AUTH, 'forbidden'),
        },
      },
    },
    '/v1/keys/{id}/revoke': {
      post: {
        operationId: 'revokeKey',
        summary: 'Revoke an API key (admin): it answers 401 from the next request on',
        parameters: [idParam('Key id')],
        responses: {
          '200': { description: 'The revoked key', ...json(obj(keyProps)) },
          ...errors(...AUTH, 'forbidden', 'not_found', 'unknown_field', 'invalid_body'),
        },
      },
    },
    '/v1/audit': {
      get: {
        operationId: 'listAudit',
        summary: 'The audit log (admin): key creation and revocation, merchant changes, rotations, replays',
        parameters: [
          query('after', str({ pattern: '^[0-9]+$' }), 'Cursor: the nextCursor of the previous page'),
          query('limit', int(1, 500), 'Page size, default 100'),
        ],
        responses: {
          '200': {
            description: 'A page, oldest first',
            ...json(
              obj({
                data: {
                  type: 'array',
                  items: obj({
                    id: { type: 'integer' },
                    at: time(),
                    actor: str(),
                    action: { type: 'string', enum: [...AUDIT_ACTIONS] },
                    target: str(),
                    details: nullable({ type: 'object' }),
                  }),
                },
                nextCursor: nullable(str()),
              }),
            ),
          },
          ...errors(...AUTH, 'forbidden', 'invalid_query', 'invalid_cursor'),
        },
      },
    },
  };

  return {
    openapi: '3.1.0',
    info: {
      title: 'Confirma',
      version: '1',
      description:
        'Delivers payment confirmations to merchants. ' +
        'Errors are { error: { code, message, field? } } with codes from one catalog. ' +
        'Any request may also answer what the transport refuses before a route: 400 bad_request (malformed HTTP), ' +
        '400 invalid_path, 408 request_timeout, 414 uri_too_long, 431 headers_too_large.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'The admin key, or a merchant key (cfm_mk_…).' },
      },
      schemas,
    },
  };
}
