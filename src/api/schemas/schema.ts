import {
  Type,
  type ObjectOptions,
  type Static,
  type TObject,
  type TProperties,
  type TSchema,
  type TUnsafe,
} from '@sinclair/typebox';
import type { ErrorCode } from '../../errors.js';

/**
 * Small builders over TypeBox for the API's schemas. Each schema is written once: ajv checks
 * requests against it (`schema-validator.ts`), `@fastify/swagger` publishes it in
 * `/openapi.json`, and `Static<typeof S>` is the type the route reads.
 */

/** How the failure of one schema node is answered: the catalog code, and the rule as the words after the field's name. */
export interface ErrorAnswer {
  readonly code?: ErrorCode;
  readonly rule?: string;
}

/**
 * `x-error`, the annotation `schema-errors.ts` reads through ajv's `parentSchema`: the node's
 * answer for any of its keywords, and per keyword (`maxItems`, `type`…) where they differ. Absent,
 * the code follows from the keyword (missing_field, unknown_field, invalid_field…) and the rule is
 * written from the schema itself ("must be 1 to 128 characters long"). It is published with the
 * schema: a client reading the document sees which code each field answers.
 */
export interface ErrorAnswers extends ErrorAnswer {
  readonly keywords?: Readonly<Record<string, ErrorAnswer>>;
}

export const X_ERROR = 'x-error';

/** Schema options carrying an `x-error` annotation, to spread into a TypeBox builder's options. */
export function answers(a: ErrorAnswers): { [X_ERROR]: ErrorAnswers } {
  return { [X_ERROR]: a };
}

/**
 * `schema` or null, as JSON Schema's type list (`type: ['integer', 'null']`) rather than a union:
 * ajv then reports one error (not one per branch), and the other keywords still apply to the
 * non-null value.
 */
export function nullable<T extends TSchema>(schema: T): TUnsafe<Static<T> | null> {
  const type: unknown = schema.type;
  if (typeof type !== 'string') throw new Error('nullable() needs a schema with a single type');
  return Type.Unsafe<Static<T> | null>({ ...schema, type: [type, 'null'] });
}

/** A reference to a shared schema (one with an `$id`, added with `app.addSchema`), typed as that schema. */
export function ref<T extends TSchema>(schema: T): TUnsafe<Static<T>> {
  if (schema.$id === undefined) throw new Error('ref() needs a schema with an $id');
  return Type.Unsafe<Static<T>>(Type.Ref(schema.$id));
}

/** A request object: closed, since the API refuses unknown fields (unknown_field) rather than dropping them. */
export function closed<T extends TProperties>(properties: T, options: ObjectOptions = {}): TObject<T> {
  return Type.Object(properties, { ...options, additionalProperties: false });
}

/** A string that is one of `values`, as JSON Schema's `enum` (one error, listing the values). */
export function stringEnum<const V extends readonly string[]>(
  values: V,
  options: Record<string, unknown> = {},
): TUnsafe<V[number]> {
  return Type.Unsafe<V[number]>({ ...options, type: 'string', enum: [...values] });
}

/**
 * A pattern matching the whole numbers from 1 to `max` as written in a query string (no sign, no
 * leading zero): query parameters stay strings (no type coercion), so a limit is checked as text.
 */
export function wholeNumberPattern(max: number): string {
  if (!Number.isInteger(max) || max < 1) throw new Error(`wholeNumberPattern(${max})`);
  const digits = String(max);
  const alternatives: string[] = [];
  // Fewer digits than max: any such number without a leading zero.
  if (digits.length > 1) alternatives.push(digits.length === 2 ? '[1-9]' : `[1-9][0-9]{0,${digits.length - 2}}`);
  // As many digits: a prefix of max, then one smaller digit, then anything.
  for (let i = 0; i < digits.length; i++) {
    const d = Number(digits[i]);
    const low = i === 0 ? 1 : 0;
    if (d - 1 < low) continue;
    const rest = digits.length - i - 1;
    alternatives.push(`${digits.slice(0, i)}[${low}-${d - 1}]${rest > 0 ? `[0-9]{${rest}}` : ''}`);
  }
  alternatives.push(digits);
  return `^(?:${alternatives.join('|')})$`;
}
