import type { Format } from '../domain/merchant.js';
import { epaycoFormat } from './epayco.js';
import type { PayloadFormat } from './format.js';
import { standardFormat } from './standard.js';

export type { PayloadFormat, BodyInput, AttemptInput, OutgoingRequest } from './format.js';
export { FormatError } from './format.js';

const FORMAT_MODULES: Readonly<Record<Format, PayloadFormat>> = {
  standard: standardFormat,
  epayco: epaycoFormat,
};

/** The module of a format name; an unknown name is a programmer error (names are validated at the API). */
export function formatOf(name: Format): PayloadFormat {
  const f = FORMAT_MODULES[name];
  if (f === undefined) throw new TypeError(`unknown payload format ${String(name)}`);
  return f;
}
