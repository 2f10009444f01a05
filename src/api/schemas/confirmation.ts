import { Type } from '@sinclair/typebox';
import { CONFIRMATION_STATES } from '../../domain/confirmation.js';
import { Cursor, PageLimit, Time } from './common.js';
import { LIMITS } from './limits.js';
import { closed, nullable, ref, stringEnum } from './schema.js';
import { ConfirmationSummary } from './transaction.js';

/** Confirmations: the list's query, and what the routes answer. */

/** `?merchantId&state&after&limit` of `GET /v1/confirmations`. */
export const ConfirmationQuery = closed({
  merchantId: Type.Optional(Type.String({ minLength: 1, maxLength: LIMITS.merchantIdMax, description: 'Only this merchant.' })),
  state: Type.Optional(stringEnum(CONFIRMATION_STATES, { description: 'Only this state.' })),
  after: Type.Optional(Cursor),
  limit: Type.Optional(PageLimit),
});

const confirmationProps = {
  ...ConfirmationSummary.properties,
  transactionId: Type.String(),
  merchantId: Type.String(),
};

export const Confirmation = Type.Object(confirmationProps, { $id: 'Confirmation' });

export const Attempt = Type.Object(
  {
    number: Type.Integer({ minimum: 1 }),
    startedAt: Time(),
    durationMs: Type.Integer({
      description: "From the moment the request went on a socket to the end of the answer: the merchant's time, not ours",
    }),
    statusCode: nullable(Type.Integer()),
    errorKind: nullable(Type.String()),
    errorMessage: nullable(Type.String()),
    responseSnippet: nullable(Type.String()),
    outcome: Type.String({ description: 'delivered | retry | dead | disable' }),
  },
  { $id: 'Attempt' },
);

export const ConfirmationWithAttempts = Type.Object(
  { ...confirmationProps, attempts: Type.Array(ref(Attempt)) },
  { $id: 'ConfirmationWithAttempts' },
);

export const ConfirmationPage = Type.Object(
  { data: Type.Array(ref(Confirmation)), nextCursor: nullable(Type.String()) },
  { $id: 'ConfirmationPage' },
);

export const Redelivered = Type.Object(
  {
    id: Type.String(),
    state: stringEnum(CONFIRMATION_STATES, { description: 'The state it is in now: waiting or parked rows stay as they are.' }),
  },
  { $id: 'Redelivered' },
);
