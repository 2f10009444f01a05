import { Type, type TSchema } from '@sinclair/typebox';
import { errorCatalog, type ErrorCode } from '../../errors.js';
import { MAX_PARAM_LENGTH } from '../http-transport.js';
import { LIMITS } from './limits.js';
import { answers, closed, ref, wholeNumberPattern } from './schema.js';

/** Schemas every resource uses: path ids, pages, the empty body of action routes, errors. */

/** Quoted on every field that is read for card numbers (docs/security.md, "Card numbers"). */
export const NO_PAN = 'Card numbers (13-19 digits passing Luhn, in any digits and spacing) are refused: card_number_refused.';

/** A time in an answer: ISO 8601 in UTC with milliseconds. */
export const Time = (options: Record<string, unknown> = {}) => Type.String({ format: 'date-time', ...options });

/** `:id` of a route; ids longer than the router's limit answer 414 before any route. */
export const IdParams = (description: string) =>
  Type.Object({ id: Type.String({ maxLength: MAX_PARAM_LENGTH, description }) }, { additionalProperties: false });

/** `after`: the `nextCursor` of the previous page, an id this server made. */
export const Cursor = Type.String({
  pattern: `^[A-Za-z0-9_.:-]{1,${LIMITS.cursorMax}}$`,
  description: 'nextCursor of the previous page.',
  ...answers({ code: 'invalid_cursor', rule: 'must be a cursor this server returned as nextCursor' }),
});

/** `limit`: a whole number as text, since query parameters are not coerced. */
export const PageLimit = Type.String({
  pattern: wholeNumberPattern(LIMITS.pageMax),
  default: String(LIMITS.pageDefault),
  description: `Page size, 1 to ${LIMITS.pageMax} (default ${LIMITS.pageDefault}).`,
  ...answers({ rule: `must be a whole number between 1 and ${LIMITS.pageMax}` }),
});

/** The page size a checked `limit` asks for. */
export function pageSize(limit: string | undefined): number {
  return limit === undefined ? LIMITS.pageDefault : Number(limit);
}

/** `?after&limit`. */
export const PageQuery = closed({ after: Type.Optional(Cursor), limit: Type.Optional(PageLimit) });

/** The body of an action route: none, or `{}`; anything else is refused rather than ignored. */
export const NoBody = Type.Unsafe<Record<string, never> | null>({
  type: ['object', 'null'],
  additionalProperties: false,
  description: 'No body (an empty object is accepted).',
  ...answers({
    rule: 'must be empty: this route takes no body',
    keywords: { additionalProperties: { rule: 'is not a known field: this route takes no body' } },
  }),
});

export const ErrorBody = Type.Object(
  {
    code: Type.Unsafe<ErrorCode>({ type: 'string', enum: Object.keys(errorCatalog) }),
    message: Type.String(),
    field: Type.Optional(Type.String({ description: 'Dotted path of the offending field, e.g. transactions.3.amount.' })),
  },
  { $id: 'ErrorBody' },
);

export const ErrorResponse = Type.Object({ error: ref(ErrorBody) }, { $id: 'Error' });

/** Every authenticated route: no or an unknown key, too many requests, or a node shutting down. */
export const AUTH = ['unauthorized', 'rate_limited', 'shutting_down'] as const;

/** What any JSON body may be refused with, before or by its schema. */
export const BODY = [
  'invalid_json',
  'invalid_encoding',
  'invalid_body',
  'unknown_field',
  'missing_field',
  'invalid_field',
  'unsupported_media_type',
  'body_too_large',
] as const;

/**
 * The error answers of a route, one per HTTP status, each naming its codes: a Fastify `response`
 * fragment (fast-json-stringify serialises errors with it; `@fastify/swagger` publishes it).
 */
export function errorResponses(...codes: readonly ErrorCode[]): Record<string, TSchema> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const c of [...new Set([...codes, 'internal' as const])]) {
    const s = errorCatalog[c].status;
    byStatus.set(s, [...(byStatus.get(s) ?? []), c]);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, cs]) => [
      String(status),
      Type.Unsafe({ ...ref(ErrorResponse), description: `Error: ${cs.join(', ')}` }),
    ]),
  );
}

export const Health = Type.Object({ ok: Type.Boolean(), reason: Type.Optional(Type.String()) }, { $id: 'Health' });

/** A response that is not JSON (a page, the metrics). */
export function textResponse(mediaType: string, description: string) {
  return { description, content: { [mediaType]: { schema: Type.String() } } };
}
