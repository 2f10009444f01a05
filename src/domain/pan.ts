/**
 * Card numbers (PANs) must never be stored or logged by Confirma: it is not a card vault and sits
 * outside PCI scope only while none passes through it. This module is the one detector every
 * free-text input goes through (docs/security.md, "Card numbers", states the rule for clients):
 *
 * 1. Normalise: NFKC (fullwidth, mathematical, circled and superscript digits become ASCII, NBSP
 *    and the other compatibility spaces become U+0020, fullwidth `．／－` become `./-`); invisible
 *    characters are dropped (format characters \p{Cf} such as the zero-width space, joiners and
 *    the BOM; combining marks \p{Mn}\p{Me} such as variation selectors and the keycap ⃣); every
 *    other decimal digit \p{Nd} (Arabic-Indic, Devanagari, Thai…) becomes its ASCII value.
 * 2. Groups: a group is a maximal run of digits. Two neighbouring groups are linked when exactly
 *    ONE separator lies between them: a space (any Unicode space, tab), a dash (any \p{Pd}, the
 *    minus sign), or one of `. , _ / \ ·  •`. `:` and `;` never link, so "2024-01-15 12:30:45"
 *    stays a date and a time; two separators ("4111 - 1111") never link.
 * 3. Chains: groups linked by separators of the same kind ("4111.1111.1111.1111"). A change of
 *    separator ends a chain, so an ISO 8601 interval "2024-01-01/2024-01-31" is two dates, not a
 *    16-digit number; nobody writes a card number with two kinds of separator.
 * 4. Every stretch of whole consecutive groups of one chain holding 13 to 19 digits that passes
 *    Luhn is a card number. Windows inside a group are never tried: any 16 digits hold a
 *    Luhn-valid 13-digit window more often than not, so that would refuse honest data. Whole
 *    groups are tried, so a card beside another number ("ref 123 4111 1111 1111 1111") is found.
 */

/** Luhn checksum over a string of ASCII digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

const PAN_MIN = 13;
const PAN_MAX = 19;

const ASCII_ONLY = /^\p{ASCII}*$/u;
const INVISIBLE = /[\p{Cf}\p{Mn}\p{Me}]/gu;
const NON_ASCII_DIGIT = /(?![0-9])\p{Nd}/gu;
const DECIMAL_DIGIT = /^\p{Nd}$/u;
const SPACE = /^\p{Zs}$/u;
const DASH = /^\p{Pd}$/u;

/** Values of the non-ASCII decimal digits met so far (Unicode has about 700, so this stays small). */
const digitValues = new Map<number, string>();

/**
 * The value of a decimal digit. Unicode encodes decimal digits only in runs of ten, 0 to 9 in
 * order, and where runs touch (the mathematical digits) each is still a whole run: so a digit's
 * value is its distance from the start of the unbroken stretch of digits it sits in, modulo 10.
 */
function digitValue(digit: string): string {
  const cp = digit.codePointAt(0) as number;
  let value = digitValues.get(cp);
  if (value === undefined) {
    let start = cp;
    while (start > 0 && DECIMAL_DIGIT.test(String.fromCodePoint(start - 1))) start--;
    value = String((cp - start) % 10);
    digitValues.set(cp, value);
  }
  return value;
}

/** `text` with every digit as ASCII and nothing invisible left (step 1 above). */
export function normaliseDigits(text: string): string {
  if (ASCII_ONLY.test(text)) return text;
  return text.normalize('NFKC').replace(INVISIBLE, '').replace(NON_ASCII_DIGIT, digitValue);
}

/** The most digits NFKC makes of one character (⅒ becomes "1⁄10"); test/pan.test.ts checks it. */
export const MAX_DIGITS_PER_CHARACTER = 3;

const NO_LINK = -1;

/** The kind of separator `code` is (step 2 above), or NO_LINK. */
function separatorKind(code: number): number {
  switch (code) {
    case 0x20: // space
    case 0x09: // tab
      return 0x20;
    case 0x2d: // -
    case 0x2212: // minus sign
      return 0x2d;
    case 0x2e: // .
    case 0x2c: // ,
    case 0x5f: // _
    case 0x2f: // /
    case 0x5c: // \
      return code;
    case 0xb7: // middle dot
    case 0x2022: // bullet
    case 0x2219: // bullet operator
    case 0x30fb: // katakana middle dot
      return 0xb7;
    default:
      if (code < 0x80) return NO_LINK;
      if (SPACE.test(String.fromCharCode(code))) return 0x20;
      if (DASH.test(String.fromCharCode(code))) return 0x2d;
      return NO_LINK;
  }
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

/** Whether `text` holds something that reads as a card number under the rule above. */
export function containsCardNumber(text: string): boolean {
  // Most text has too few digits to hold a card number even once normalised: skip the work then.
  let digits = 0;
  let nonAscii = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (isDigit(c)) digits++;
    else if (c >= 0x80) nonAscii++;
  }
  if (digits + MAX_DIGITS_PER_CHARACTER * nonAscii < PAN_MIN) return false;
  const s = nonAscii === 0 ? text : normaliseDigits(text);

  // The groups, and links[i]: the separator kind between group i and group i + 1, or NO_LINK.
  const groups: string[] = [];
  const links: number[] = [];
  let lastEnd = -1;
  for (let i = 0; i < s.length;) {
    if (!isDigit(s.charCodeAt(i))) {
      i++;
      continue;
    }
    const start = i;
    while (i < s.length && isDigit(s.charCodeAt(i))) i++;
    if (groups.length > 0) links.push(start - lastEnd === 1 ? separatorKind(s.charCodeAt(lastEnd)) : NO_LINK);
    groups.push(s.slice(start, i));
    lastEnd = i;
  }

  for (let first = 0; first < groups.length; first++) {
    let digits = groups[first] as string;
    let kind = NO_LINK;
    for (let last = first; ; last++) {
      if (digits.length > PAN_MAX) break;
      if (digits.length >= PAN_MIN && luhnValid(digits)) return true;
      const link = links[last];
      if (link === undefined || link === NO_LINK || (kind !== NO_LINK && link !== kind)) break;
      kind = link;
      digits += groups[last + 1] as string;
    }
  }
  return false;
}
