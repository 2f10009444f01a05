import { Type, type Static } from '@sinclair/typebox';
import { AUDIT_ACTIONS } from '../../domain/audit.js';
import { NO_PAN, PageLimit, Time } from './common.js';
import { LIMITS } from './limits.js';
import { answers, closed, nullable, ref, stringEnum } from './schema.js';

/** API keys and the audit log (admin only). */

/** `POST /v1/keys`: `{ merchantId?, name? }` or no body; no merchantId makes an admin key. */
export const NewKey = nullable(
  closed(
    {
      merchantId: Type.Optional(
        nullable(
          Type.String({
            minLength: 1,
            maxLength: LIMITS.merchantIdMax,
            description: 'The merchant; absent or null for an admin key.',
          }),
        ),
      ),
      name: Type.Optional(Type.String({ minLength: 1, maxLength: LIMITS.nameMax, description: NO_PAN })),
    },
    { title: 'NewKey' },
  ),
);
export type NewKeyBody = Static<typeof NewKey>;

/** `?after&limit` of `GET /v1/audit`: entries have increasing numeric ids. */
export const AuditQuery = closed({
  after: Type.Optional(
    Type.String({
      pattern: '^[0-9]{1,16}$',
      description: 'Cursor: the nextCursor of the previous page.',
      ...answers({ code: 'invalid_cursor', rule: 'must be an audit entry id' }),
    }),
  ),
  limit: Type.Optional(PageLimit),
});

export const ApiKey = Type.Object(
  {
    id: Type.String(),
    merchantId: nullable(Type.String()),
    prefix: Type.String(),
    name: nullable(Type.String()),
    createdAt: Time(),
    revokedAt: nullable(Time()),
  },
  { $id: 'ApiKey' },
);

export const KeyCreated = Type.Object(
  { ...ApiKey.properties, key: Type.String({ pattern: '^cfm_(mk|ak)_', description: 'The key; shown only here.' }) },
  { $id: 'KeyCreated' },
);

export const KeyList = Type.Object({ data: Type.Array(ref(ApiKey)) }, { $id: 'KeyList' });

export const AuditPage = Type.Object(
  {
    data: Type.Array(
      Type.Object({
        id: Type.Integer(),
        at: Time(),
        actor: Type.String(),
        action: stringEnum(AUDIT_ACTIONS),
        target: Type.String(),
        details: nullable(Type.Object({}, { additionalProperties: true })),
      }),
    ),
    nextCursor: nullable(Type.String()),
  },
  { $id: 'AuditPage' },
);
