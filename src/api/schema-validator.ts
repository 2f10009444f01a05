import type { TSchema } from '@sinclair/typebox';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import type { FastifySchemaCompiler } from 'fastify';
import type { ConfirmaError } from '../errors.js';
import { schemaError, type SchemaPart } from './schema-errors.js';
import { X_ERROR } from './schemas/schema.js';

/** ajv's logger: the one warning expected, that the `unicode` option (below) is deprecated, is dropped. */
const AJV_LOGGER = {
  log: (): void => {},
  warn: (...args: unknown[]): void => {
    if (!String(args[0]).includes('option unicode')) console.warn(...args);
  },
  error: (...args: unknown[]): void => console.error(...args),
};

/** Checks a value against a compiled schema: undefined when it holds, else the catalog error. */
export type SchemaCheck = (data: unknown, prefix?: readonly string[]) => ConfirmaError | undefined;

/**
 * The one ajv instance a server checks requests with: Fastify's validator compiler for every
 * route's body, query, params and headers, and the batch route's per-item check.
 *
 * Options that keep the API strict: nothing is removed (`removeAdditional: false`: an unknown
 * field is refused, never silently dropped), coerced (`coerceTypes: false`: `"5"` is not 5, and
 * query parameters stay strings) or filled in (`useDefaults: false`: a `default` only documents).
 * `allErrors: false` stops at the first error, which is the one answered. `strict` refuses a
 * schema with an unknown keyword or a keyword that cannot apply, so a typo in a schema fails at
 * start-up, not at run time. `verbose` gives each error its node and value, which the messages
 * are written from; ajv's own messages are not built (`messages: false`).
 */
export class SchemaValidator {
  private readonly ajv = new Ajv2020({
    removeAdditional: false,
    coerceTypes: false,
    useDefaults: false,
    allErrors: false,
    strict: true,
    // `type: ['integer', 'null']` is how nullable values are written (schemas/schema.ts).
    allowUnionTypes: true,
    verbose: true,
    messages: false,
    // Lengths in UTF-16 code units, as JavaScript's .length counts them (and the checks before
    // these schemas did): ajv's default walks each string to count code points, about a quarter
    // of the cost of checking a transaction, for nothing the limits need (they bound storage and
    // logs). ajv calls the option deprecated but honours it; its warning saying so is dropped.
    unicode: false,
    logger: AJV_LOGGER,
  });

  constructor() {
    this.ajv.addKeyword({ keyword: X_ERROR, schemaType: 'object' });
  }

  /** A check of `schema` for one part of a request. */
  check(schema: TSchema, part: SchemaPart = 'body'): SchemaCheck {
    const validate: ValidateFunction = this.ajv.compile(schema);
    return (data, prefix) => {
      if (validate(data)) return undefined;
      const first = validate.errors?.[0];
      if (first === undefined) throw new Error('ajv refused a value without an error');
      return schemaError(first, part, prefix);
    };
  }

  /**
   * Fastify's validator compiler: the result carries the catalog error, which the error handler
   * answers as it is (Fastify passes an `error` through untouched).
   */
  readonly compiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
    const check = this.check(schema, (httpPart ?? 'body') as SchemaPart);
    return (data: unknown) => {
      const error = check(data);
      return error === undefined ? true : { error };
    };
  };

  /**
   * A route's compiler that checks its body against `body` instead of the schema it publishes
   * (the batch route: the envelope, whose items the route checks one by one).
   */
  compilerWithBody(body: TSchema): FastifySchemaCompiler<unknown> {
    return (route) => this.compiler({ ...route, schema: route.httpPart === 'body' ? body : (route.schema as TSchema) });
  }
}
