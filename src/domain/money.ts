import { ConfirmaError } from '../errors.js';
import { currencyDigits } from './currency.js';

/**
 * An amount as we accept it: a plain decimal with no sign, no exponent, no leading zeros and no
 * spaces, at most 18 digits before the point (so it fits a NUMERIC(18+d, d) column and a bigint of
 * minor units), and at least one digit after the point if there is a point.
 */
export const AMOUNT = /^(0|[1-9][0-9]{0,17})(\.[0-9]+)?$/;

/** A currency code as written: 3 uppercase letters (whether ISO 4217 lists it is `currency.ts`'s to say). */
export const CURRENCY_CODE = /^[A-Z]{3}$/;

/** Longest piece of a refused value quoted back in an error message. */
const QUOTE_MAX = 40;

/**
 * Checks a currency code sent by a client and returns it unchanged: a string of 3 uppercase
 * letters that is an accepted ISO 4217 code (see `currency.ts`). `"cop"` is refused with a hint to
 * send `"COP"`: codes are stored and compared exactly, so we do not silently normalise them.
 * Throws `invalid_currency` naming `field`.
 */
export function parseCurrency(value: unknown, field = 'currency'): string {
  if (typeof value !== 'string') {
    throw new ConfirmaError(
      'invalid_currency',
      `${field} must be a string holding an ISO 4217 code such as "COP"; it is ${describe(value)}.`,
      { field },
    );
  }
  if (/^[A-Za-z]{3}$/.test(value) && value !== value.toUpperCase()) {
    const upper = value.toUpperCase();
    const hint = currencyDigits(upper) === undefined ? '' : `: send "${upper}"`;
    throw new ConfirmaError('invalid_currency', `${field} must be uppercase${hint}; got ${quote(value)}.`, { field });
  }
  if (!CURRENCY_CODE.test(value)) {
    throw new ConfirmaError(
      'invalid_currency',
      `${field} must be 3 uppercase letters, an ISO 4217 code such as "COP"; got ${quote(value)}.`,
      { field },
    );
  }
  if (currencyDigits(value) === undefined) {
    throw new ConfirmaError('invalid_currency', `${field} ${quote(value)} is not an ISO 4217 currency in use.`, {
      field,
    });
  }
  return value;
}

/**
 * Checks an amount sent by a client for the given currency and returns the string unchanged: we
 * store exactly what the merchant sent and never pass it through a float.
 *
 * The amount must be a JSON string (a JSON number may already have lost precision when parsed),
 * a plain decimal matching `AMOUNT`, with no more fraction digits than the currency's minor unit
 * (`"100.50"` is fine for COP, `"100.5"` is not for JPY), and strictly greater than zero.
 * Throws `invalid_amount` naming `field`; an unknown `currency` throws `invalid_currency` naming the
 * currency field next to `field` (`transactions.3.amount` → `transactions.3.currency`).
 */
export function parseAmount(amount: unknown, currency: string, field = 'amount'): string {
  if (typeof amount === 'number') {
    throw new ConfirmaError(
      'invalid_amount',
      `${field} must be sent as a JSON string such as "${numberExample(amount)}", not a number: numbers lose precision.`,
      { field },
    );
  }
  if (typeof amount !== 'string') {
    throw new ConfirmaError('invalid_amount', `${field} must be a decimal string such as "1234.50"; it is ${describe(amount)}.`, {
      field,
    });
  }
  const digits = currencyDigits(currency);
  if (digits === undefined) {
    const currencyField = siblingField(field, 'currency');
    throw new ConfirmaError('invalid_currency', `${currencyField} ${quote(currency)} is not an ISO 4217 currency in use.`, {
      field: currencyField,
    });
  }
  const allows = allowance(currency, digits);

  const match = AMOUNT.exec(amount);
  if (match === null) {
    throw new ConfirmaError(
      'invalid_amount',
      `${field} must be a plain decimal string such as "${example(digits)}" (${allows}); ${formatProblem(amount)}; got ${quote(amount)}.`,
      { field },
    );
  }
  const fraction = match[2] === undefined ? 0 : match[2].length - 1;
  if (fraction > digits) {
    throw new ConfirmaError(
      'invalid_amount',
      `${field} has ${fraction} decimal place${fraction === 1 ? '' : 's'} but ${allows}; got ${quote(amount)}.`,
      { field },
    );
  }
  if (/^[0.]+$/.test(amount)) {
    throw new ConfirmaError('invalid_amount', `${field} must be greater than 0 (${allows}); got ${quote(amount)}.`, {
      field,
    });
  }
  return amount;
}

/** `COP allows up to 2 decimal places`, `JPY allows no decimal places`. */
function allowance(currency: string, digits: number): string {
  if (digits === 0) return `${currency} allows no decimal places`;
  return `${currency} allows up to ${digits} decimal place${digits === 1 ? '' : 's'}`;
}

/** A valid example amount with exactly `digits` decimal places. */
function example(digits: number): string {
  return digits === 0 ? '1234' : `1234.${'5'.padEnd(digits, '0')}`;
}

/**
 * Names the first rule a malformed amount breaks, so the client learns what to change rather than
 * being shown a regular expression.
 */
function formatProblem(s: string): string {
  if (s === '') return 'it is empty';
  if (/\s/.test(s)) return 'spaces are not allowed';
  if (/^[+-]/.test(s)) return 'no sign is allowed (the amount is always positive)';
  if (/^[0-9.]+[eE][+-]?[0-9]*$/.test(s)) return 'no exponent is allowed';
  if (s.includes(',')) return "use '.' as the decimal point and no thousands separators";
  if (/[^0-9.]/.test(s)) return 'only digits and one decimal point are allowed';
  if ((s.match(/\./g) ?? []).length > 1) return 'only one decimal point is allowed';
  if (s.startsWith('.')) return 'a digit is needed before the decimal point (write "0.5", not ".5")';
  if (s.endsWith('.')) return 'digits are needed after the decimal point, or no point at all';
  if (/^0[0-9]/.test(s)) return 'leading zeros are not allowed';
  return 'at most 18 digits are allowed before the decimal point';
}

/** The path of a sibling field: `transactions.3.amount` → `transactions.3.currency`. */
function siblingField(field: string, name: string): string {
  const dot = field.lastIndexOf('.');
  return dot === -1 ? name : `${field.slice(0, dot + 1)}${name}`;
}

/** A refused string quoted back as JSON, cut short so a huge value cannot bloat the error. */
function quote(s: string): string {
  return JSON.stringify(s.length > QUOTE_MAX ? `${s.slice(0, QUOTE_MAX)}…` : s);
}

/** How a JSON number looks as the string we want instead (`10` → `"10"`), when it can be written plainly. */
function numberExample(n: number): string {
  const s = String(n);
  return /^[0-9]+(\.[0-9]+)?$/.test(s) ? s : '1234.50';
}

/** What a value that is not a string is, for messages: `missing`, `null`, `an array`, `a boolean`… */
function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  return type === 'object' ? 'an object' : `a ${type}`;
}
