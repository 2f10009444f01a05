import { errorCatalog, type ErrorCode } from '../errors.js';

/** Small builders for the hand-written OpenAPI document (`openapi.ts`). */

export type Schema = Record<string, unknown>;

export const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
export const str = (extra: Schema = {}): Schema => ({ type: 'string', ...extra });
export const int = (minimum: number, maximum: number, extra: Schema = {}): Schema => ({ type: 'integer', minimum, maximum, ...extra });
export const nullable = (s: Schema): Schema => ({ oneOf: [s, { type: 'null' }] });
export const time = (): Schema => str({ format: 'date-time' });
export type Props = Record<string, Schema>;
/** A response object: open, since fields may be added to responses without a new version. */
export const obj = (properties: Props, required: string[] = Object.keys(properties)): Schema => ({
  type: 'object',
  properties,
  required,
});
/** A request object: closed, since the API refuses unknown fields (unknown_field). */
export const input = (properties: Props, required: string[]): Schema => ({
  type: 'object',
  additionalProperties: false,
  properties,
  required,
});

export const json = (schema: Schema) => ({ content: { 'application/json': { schema } } });

/** The error responses an operation may give, grouped by HTTP status, each naming its codes. */
export function errors(...codes: ErrorCode[]): Record<string, unknown> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const c of [...codes, 'internal' as const]) {
    const s = errorCatalog[c].status;
    byStatus.set(s, [...(byStatus.get(s) ?? []), c]);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, cs]) => [String(status), { description: `Error: ${cs.join(', ')}`, ...json(ref('Error')) }]),
  );
}

/** Every authenticated route: no or an unknown key; too many requests for the key, or failed authentications from the address. */
export const AUTH = ['unauthorized', 'rate_limited'] as const;
export const idParam = (description: string) => ({ name: 'id', in: 'path', required: true, description, schema: str() });
export const query = (name: string, schema: Schema, description: string) => ({
  name,
  in: 'query',
  required: false,
  description,
  schema,
});
