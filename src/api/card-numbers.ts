import { containsCardNumber } from '../domain/pan.js';
import { ConfirmaError } from '../errors.js';

/**
 * Every input Confirma stores or logs as text goes through here (docs/security.md lists them), so
 * no card number is ever kept: the error names the field and never repeats the value.
 */

const RULE = 'must not contain a card number (13 to 19 digits passing Luhn, however they are spaced or written)';

/** Refuses `value` with `card_number_refused` naming `field` when it holds a card number. */
export function refuseCardNumber(value: string, field: string): void {
  if (containsCardNumber(value)) throw new ConfirmaError('card_number_refused', `${field} ${RULE}`, { field });
}

/** A key of an object (metadata) holding a card number: the field is the object, so the key is not echoed. */
export function refuseCardNumberInKey(key: string, objectField: string): void {
  if (containsCardNumber(key)) {
    throw new ConfirmaError('card_number_refused', `a key of ${objectField} ${RULE}`, { field: objectField });
  }
}

/**
 * Percent-decoding that keeps a malformed escape as it is instead of giving up on the whole
 * string, so one broken `%zz` cannot hide an encoded card number behind it; `+` reads as a space.
 */
function lenientDecode(text: string): string {
  return text.replace(/\+/g, ' ').replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    }
  });
}

/** Whether a URL (or a path) holds a card number as written or percent-decoded, anywhere in it. */
export function urlHoldsCardNumber(url: string): boolean {
  if (containsCardNumber(url)) return true;
  const decoded = lenientDecode(url);
  return decoded !== url && containsCardNumber(decoded);
}

/** Refuses a URL holding a card number in its host, path, query or fragment, encoded or not. */
export function refuseCardNumberInUrl(url: string, field: string): void {
  if (urlHoldsCardNumber(url)) throw new ConfirmaError('card_number_refused', `${field} ${RULE}`, { field });
}
