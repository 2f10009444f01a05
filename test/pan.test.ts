import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { containsCardNumber, luhnValid, MAX_DIGITS_PER_CHARACTER, normaliseDigits } from '../src/domain/pan.js';

/**
 * The card-number detector (src/domain/pan.ts): every way a person or a tool writes a PAN is
 * found, and the honest values that merely hold digits are not.
 */

const VISA = '4111111111111111';
const groupsOf4 = (sep: string, pan = VISA): string => pan.match(/.{1,4}/g)!.join(sep);

describe('card numbers are found in every formatting', () => {
  const cases: Array<[string, string]> = [
    ['plain digits', VISA],
    ['spaces', groupsOf4(' ')],
    ['dashes', groupsOf4('-')],
    ['dots', groupsOf4('.')],
    ['underscores', groupsOf4('_')],
    ['slashes', groupsOf4('/')],
    ['backslashes', groupsOf4('\\')],
    ['commas', groupsOf4(',')],
    ['tabs', groupsOf4('\t')],
    ['no-break spaces', groupsOf4('\u00a0')],
    ['narrow no-break spaces', groupsOf4('\u202f')],
    ['ideographic spaces', groupsOf4('\u3000')],
    ['en dashes', groupsOf4('\u2013')],
    ['minus signs', groupsOf4('\u2212')],
    ['middle dots', groupsOf4('\u00b7')],
    ['zero-width spaces', groupsOf4('\u200b')],
    ['a zero-width space inside a group', `41\u200b11 1111 1111 1111`],
    ['soft hyphens', groupsOf4('\u00ad')],
    ['word joiners and a BOM', `\ufeff${groupsOf4('\u2060')}`],
    ['fullwidth digits', '４１１１１１１１１１１１１１１１'],
    ['fullwidth digits and hyphens', groupsOf4('－', '４１１１１１１１１１１１１１１１')],
    ['Arabic-Indic digits', '٤١١١١١١١١١١١١١١١'],
    ['extended Arabic-Indic digits', '۴۱۱۱۱۱۱۱۱۱۱۱۱۱۱۱'],
    ['Devanagari digits', '४१११ ११११ ११११ ११११'],
    ['mathematical bold digits', '𝟒𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏'],
    ['keycap emoji', [...VISA].map((d) => `${d}\ufe0f\u20e3`).join('')],
    ['digits mixing scripts', '4१١1 ١١١١ 1111 １１１１'],
    ['inside words', `card:${VISA}!`],
    ['glued to letters', `ref${VISA}x`],
    ['beside another number', `ref 123 ${groupsOf4(' ')}`],
    ['after a year', `2024 ${VISA}`],
    ['before an expiry', `${groupsOf4('-')}-12-26`],
    ['Amex 4-6-5', '3782 822463 10005'],
    ['Diners 14 digits', '3056 9309 0259 04'],
    ['13 digits', '4222222222222'],
    ['19 digits, 4-4-4-4-3', '4000 0000 0000 0000 006'],
  ];
  for (const [name, text] of cases) {
    it(`finds one written with ${name}`, () => {
      const digits = normaliseDigits(text).replace(/\D/g, '');
      assert.ok(digits.length >= 13, `${name}: ${digits}`);
      assert.equal(containsCardNumber(text), true, JSON.stringify(text));
    });
  }

  it('finds a Luhn-valid PAN of every length and grouping, with every separator, anywhere in a text', () => {
    const separators = [' ', '-', '.', '_', '/', '\\', ',', '\t', '\u00a0', '\u2013', '\u200b', ''];
    const pan = fc
      .integer({ min: 13, max: 19 })
      .chain((n) => fc.array(fc.integer({ min: 0, max: 9 }), { minLength: n - 1, maxLength: n - 1 }))
      .map((body) => {
        const head = body.join('');
        for (let check = 0; check <= 9; check++) if (luhnValid(head + check)) return head + check;
        throw new Error('unreachable');
      });
    fc.assert(
      fc.property(
        pan,
        fc.constantFrom(...separators),
        fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 6 }),
        fc.stringMatching(/^[A-Za-z :]{0,12}$/),
        fc.stringMatching(/^[A-Za-z ]{0,12}$/),
        (digits, sep, sizes, before, after) => {
          const groups: string[] = [];
          let at = 0;
          for (let i = 0; at < digits.length; i++) {
            const size = sizes[i % sizes.length]!;
            groups.push(digits.slice(at, at + size));
            at += size;
          }
          const text = `${before}${before === '' ? '' : ':'}${groups.join(sep)}${after === '' ? '' : '.'}${after}`;
          assert.equal(containsCardNumber(text), true, JSON.stringify(text));
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('honest values are not read as card numbers', () => {
  // Each of these holds 13 or more digits; none is refused. Values whose digits would pass Luhn if
  // joined across the whole string are marked: they show why each part of the rule exists.
  const honest: Array<[string, string]> = [
    ['a date and a time', '2024-01-15 12:30:45'],
    ['an ISO 8601 timestamp', '2024-01-15T12:30:45.123Z'],
    ['an ISO 8601 interval (its 16 digits pass Luhn: separators of two kinds never chain)', '2024-01-01/2024-01-03'],
    ['a date range with a spaced dash (two separators never link)', '2024-03-01 - 2024-03-09'],
    ['a UUID', '123e4567-e89b-12d3-a456-426614174000'],
    ['a phone number', '+57 300 555 0101'],
    ['two times', '10:30:00 11:45:30 12:00:00'],
    ['a 20-digit number (no window inside a run)', '41111111111111111111'],
    ['a decimal amount', '1.234.567,89'],
    ['an IPv4 address', '192.168.100.200'],
    ['a masked card', '4111 **** **** 1111'],
    ['a card number that fails Luhn', groupsOf4(' ', '4111111111111112')],
    ['an order number and a date', 'Pedido 12345 del 2024-01-15'],
  ];
  for (const [name, text] of honest) {
    it(`accepts ${name}: ${JSON.stringify(text)}`, () => {
      assert.equal(containsCardNumber(text), false);
    });
  }

  it('the interval above really would pass Luhn if its separators were mixed into one chain', () => {
    assert.equal(luhnValid('2024-01-01/2024-01-03'.replace(/\D/g, '')), true);
  });
});

describe('digit normalisation', () => {
  it('maps the digits of every numbering system Intl knows (those Unicode calls decimal digits) to ASCII', () => {
    let systems = 0;
    for (const ns of Intl.supportedValuesOf('numberingSystem')) {
      const written = new Intl.NumberFormat('en', { numberingSystem: ns, useGrouping: false }).format(1234567890);
      if (![...written].every((ch) => /\p{Nd}/u.test(ch))) continue; // e.g. hanidec: CJK ideographs, not digits
      assert.equal(normaliseDigits(written), '1234567890', `${ns}: ${written}`);
      systems++;
    }
    assert.ok(systems > 50, `only ${systems} numbering systems checked`);
  });

  it('maps every Unicode decimal digit to one ASCII digit', () => {
    let count = 0;
    for (let cp = 0x80; cp < 0x20000; cp++) {
      const ch = String.fromCodePoint(cp);
      if (!/\p{Nd}/u.test(ch)) continue;
      count++;
      assert.match(normaliseDigits(ch), /^[0-9]$/, `U+${cp.toString(16)}`);
    }
    assert.ok(count > 600, `${count} digits`);
  });

  it(`makes at most ${MAX_DIGITS_PER_CHARACTER} digits of any one character (the detector's shortcut relies on it)`, () => {
    let most = 0;
    for (let cp = 0x80; cp < 0x110000; cp++) {
      if (cp >= 0xd800 && cp < 0xe000) continue;
      most = Math.max(most, normaliseDigits(String.fromCodePoint(cp)).replace(/[^0-9]/g, '').length);
    }
    assert.equal(most, MAX_DIGITS_PER_CHARACTER);
    // So a card number written with few but digit-rich characters is still read in full.
    assert.equal(containsCardNumber('4111 1111 ⑪⑪ ⑪⑪'), true);
  });

  it('leaves ASCII text as it is', () => {
    const text = 'order-1 of 2024, paid';
    assert.equal(normaliseDigits(text), text);
  });
});
