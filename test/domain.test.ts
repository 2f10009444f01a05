import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfirmaError, type ErrorCode } from '../src/errors.js';
import { CURRENCY_DIGITS, currencyDigits, isCurrency } from '../src/domain/currency.js';
import { parseAmount, parseCurrency } from '../src/domain/money.js';
import {
  STATUSES,
  TRANSITIONS,
  assertTransition,
  canTransition,
  confirmationType,
  parseStatus,
  type Status,
} from '../src/domain/status.js';
import { isValidClientId, newId, type IdPrefix } from '../src/domain/ids.js';

/** Asserts `fn` throws a ConfirmaError with `code` and `field`, and returns it for further checks. */
function throwsCode(fn: () => unknown, code: ErrorCode, field?: string): ConfirmaError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfirmaError, `expected a ConfirmaError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (field !== undefined) assert.equal(caught.field, field);
  return caught;
}

describe('currency', () => {
  it('lists every active ISO 4217 code as 3 uppercase letters with 0 to 4 digits', () => {
    assert.ok(CURRENCY_DIGITS.size >= 150, `only ${CURRENCY_DIGITS.size} codes`);
    for (const [code, digits] of CURRENCY_DIGITS) {
      assert.match(code, /^[A-Z]{3}$/);
      assert.ok(Number.isInteger(digits) && digits >= 0 && digits <= 4, `${code} has ${digits} digits`);
    }
  });

  const digits: Array<[string, number]> = [
    ['COP', 2],
    ['USD', 2],
    ['EUR', 2],
    ['MXN', 2],
    ['BRL', 2],
    ['GBP', 2],
    ['XCG', 2],
    ['JPY', 0],
    ['KRW', 0],
    ['CLP', 0],
    ['ISK', 0],
    ['VND', 0],
    ['PYG', 0],
    ['UGX', 0],
    ['XAF', 0],
    ['XOF', 0],
    ['BHD', 3],
    ['KWD', 3],
    ['JOD', 3],
    ['TND', 3],
    ['OMR', 3],
    ['IQD', 3],
    ['LYD', 3],
    ['CLF', 4],
    ['UYW', 4],
  ];
  for (const [code, d] of digits) {
    it(`${code} has ${d} minor-unit digits`, () => {
      assert.equal(currencyDigits(code), d);
      assert.equal(isCurrency(code), true);
    });
  }

  for (const code of ['usd', 'Usd', 'ABC', 'XXX', 'XAU', 'ANG', 'BGN', 'US', 'USDX', '', 'constructor', '__proto__']) {
    it(`${JSON.stringify(code)} is not an accepted currency`, () => {
      assert.equal(currencyDigits(code), undefined);
      assert.equal(isCurrency(code), false);
    });
  }
});

describe('parseCurrency', () => {
  it('returns a valid code unchanged', () => {
    assert.equal(parseCurrency('COP'), 'COP');
    assert.equal(parseCurrency('JPY', 'transactions.0.currency'), 'JPY');
  });

  it('refuses lowercase with a hint to send uppercase', () => {
    const err = throwsCode(() => parseCurrency('cop'), 'invalid_currency', 'currency');
    assert.match(err.message, /uppercase/);
    assert.match(err.message, /"COP"/);
  });

  const bad: Array<[unknown, RegExp]> = [
    ['CO', /3 uppercase letters/],
    ['COPX', /3 uppercase letters/],
    [' COP', /3 uppercase letters/],
    ['C0P', /3 uppercase letters/],
    ['ABC', /not an ISO 4217 currency/],
    [170, /string/],
    [null, /null/],
    [undefined, /missing/],
    [{}, /an object/],
  ];
  for (const [value, message] of bad) {
    it(`refuses ${JSON.stringify(value) ?? 'undefined'}`, () => {
      const err = throwsCode(
        () => parseCurrency(value, 'transactions.2.currency'),
        'invalid_currency',
        'transactions.2.currency',
      );
      assert.match(err.message, message);
    });
  }
});

describe('parseAmount', () => {
  const accepted: Array<[string, string]> = [
    ['1234.5', 'USD'],
    ['0.01', 'USD'],
    ['1', 'USD'],
    ['10', 'USD'],
    ['100.50', 'COP'],
    ['100.5', 'COP'],
    ['150000', 'COP'],
    ['100', 'JPY'],
    ['1.000', 'BHD'],
    ['0.001', 'KWD'],
    ['0.0001', 'CLF'],
    ['999999999999999999.99', 'USD'],
    ['100000000000000000', 'JPY'],
  ];
  for (const [amount, currency] of accepted) {
    it(`accepts ${amount} ${currency} and returns it unchanged`, () => {
      assert.equal(parseAmount(amount, currency), amount);
    });
  }

  const refused: Array<[unknown, string, RegExp]> = [
    ['0', 'USD', /greater than 0/],
    ['0.00', 'USD', /greater than 0/],
    ['0.0', 'COP', /greater than 0/],
    ['-1', 'USD', /no sign/],
    ['+1', 'USD', /no sign/],
    ['1e3', 'USD', /no exponent/],
    ['1E3', 'USD', /no exponent/],
    [' 1', 'USD', /spaces/],
    ['1 ', 'USD', /spaces/],
    ['1 000', 'USD', /spaces/],
    ['01', 'USD', /leading zeros/],
    ['00.5', 'USD', /leading zeros/],
    ['1.', 'USD', /after the decimal point/],
    ['.5', 'USD', /before the decimal point/],
    ['1.2.3', 'USD', /one decimal point/],
    ['1,000.00', 'USD', /thousands separators/],
    ['1,5', 'COP', /decimal point/],
    ['', 'USD', /empty/],
    ['abc', 'USD', /only digits/],
    ['١٢', 'USD', /only digits/],
    ['0x10', 'USD', /only digits/],
    ['Infinity', 'USD', /only digits/],
    ['NaN', 'USD', /only digits/],
    ['1000000000000000000', 'USD', /at most 18 digits/],
    ['1.234', 'USD', /3 decimal places but USD allows up to 2 decimal places/],
    ['100.5', 'JPY', /1 decimal place but JPY allows no decimal places/],
    ['100.0', 'JPY', /JPY allows no decimal places/],
    ['100.', 'JPY', /after the decimal point/],
    ['1.0000', 'BHD', /BHD allows up to 3 decimal places/],
    ['1.00001', 'CLF', /CLF allows up to 4 decimal places/],
    [10, 'USD', /JSON string such as "10", not a number: numbers lose precision/],
    [0.1, 'USD', /not a number/],
    [Number.NaN, 'USD', /not a number/],
    [10n, 'USD', /a bigint/],
    [null, 'USD', /null/],
    [undefined, 'USD', /missing/],
    [true, 'USD', /a boolean/],
    [['10'], 'USD', /an array/],
    [{ value: '10' }, 'USD', /an object/],
  ];
  for (const [amount, currency, message] of refused) {
    const label = typeof amount === 'string' ? JSON.stringify(amount) : `${typeof amount} ${String(amount)}`;
    it(`refuses ${label} ${currency}`, () => {
      const err = throwsCode(
        () => parseAmount(amount, currency, 'transactions.3.amount'),
        'invalid_amount',
        'transactions.3.amount',
      );
      assert.match(err.message, message);
      assert.match(err.message, /^transactions\.3\.amount /);
    });
  }

  it('names the currency and its digits when the format is wrong', () => {
    const err = throwsCode(() => parseAmount('01', 'BHD'), 'invalid_amount', 'amount');
    assert.match(err.message, /BHD allows up to 3 decimal places/);
    assert.match(err.message, /"1234\.500"/);
  });

  it('cuts a huge refused value short in the message', () => {
    const err = throwsCode(() => parseAmount('9'.repeat(10_000), 'USD'), 'invalid_amount');
    assert.ok(err.message.length < 300, `message is ${err.message.length} chars`);
  });

  it('refuses an unknown currency with invalid_currency on the currency field', () => {
    throwsCode(() => parseAmount('10.00', 'ABC'), 'invalid_currency', 'currency');
    throwsCode(() => parseAmount('10.00', 'usd'), 'invalid_currency', 'currency');
    throwsCode(() => parseAmount('10.00', 'XYZ', 'transactions.7.amount'), 'invalid_currency', 'transactions.7.currency');
  });

  describe('properties', () => {
    const codes = [...CURRENCY_DIGITS.keys()];
    const digit = fc.constantFrom(...'0123456789'.split(''));
    const integerPart = fc.oneof(
      fc.constant('0'),
      fc.tuple(fc.constantFrom(...'123456789'.split('')), fc.string({ unit: digit, maxLength: 17 })).map(([a, b]) => a + b),
    );
    /** A currency and an amount string built from an integer part and `fraction(digits)` digits after the point. */
    const amountIn = (fraction: (d: number) => fc.Arbitrary<string>) =>
      fc.constantFrom(...codes).chain((currency) => {
        const d = currencyDigits(currency)!;
        return fc.tuple(fc.constant(currency), fc.constant(d), integerPart, fraction(d)).map(([c, dd, i, f]) => ({
          currency: c,
          digits: dd,
          amount: f === '' ? i : `${i}.${f}`,
        }));
      });

    it('accepts and returns unchanged any positive decimal with no more fraction digits than the currency allows', () => {
      fc.assert(
        fc.property(
          amountIn((d) => fc.string({ unit: digit, maxLength: d })),
          ({ currency, amount }) => {
            fc.pre(/[1-9]/.test(amount));
            assert.equal(parseAmount(amount, currency), amount);
          },
        ),
        { numRuns: 2000 },
      );
    });

    it('refuses any decimal with more fraction digits than the currency allows', () => {
      fc.assert(
        fc.property(
          amountIn((d) => fc.string({ unit: digit, minLength: d + 1, maxLength: d + 8 })),
          ({ currency, digits, amount }) => {
            const err = throwsCode(() => parseAmount(amount, currency), 'invalid_amount', 'amount');
            assert.ok(err.message.includes(`${currency} allows`), err.message);
            assert.ok(err.message.includes(digits === 0 ? 'no decimal places' : `up to ${digits} decimal place`), err.message);
          },
        ),
        { numRuns: 2000 },
      );
    });

    it('accepts a string only if it is a plain positive decimal; anything else is invalid_amount, never another error', () => {
      const shape = /^(0|[1-9][0-9]{0,17})(\.[0-9]{1,2})?$/;
      fc.assert(
        fc.property(
          fc.oneof(fc.string(), fc.string({ unit: fc.constantFrom(...'0123456789.-+eE ,'.split('')), maxLength: 24 })),
          (s) => {
            const valid = shape.test(s) && /[1-9]/.test(s);
            if (valid) assert.equal(parseAmount(s, 'USD'), s);
            else throwsCode(() => parseAmount(s, 'USD'), 'invalid_amount', 'amount');
          },
        ),
        { numRuns: 5000 },
      );
    });
  });
});

describe('status', () => {
  it('has the seven statuses of the API', () => {
    assert.deepEqual([...STATUSES], ['pending', 'approved', 'rejected', 'failed', 'reversed', 'abandoned', 'cancelled']);
    assert.deepEqual(Object.keys(TRANSITIONS).sort(), [...STATUSES].sort());
  });

  // The whole table written out independently of TRANSITIONS: every pair not listed must be refused.
  const allowed = new Set([
    'pending>approved',
    'pending>rejected',
    'pending>failed',
    'pending>abandoned',
    'pending>cancelled',
    'approved>reversed',
  ]);
  for (const from of STATUSES) {
    for (const to of STATUSES) {
      const ok = allowed.has(`${from}>${to}`);
      it(`${from} → ${to} is ${ok ? 'allowed' : 'refused'}`, () => {
        assert.equal(canTransition(from, to), ok);
        if (ok) {
          assert.doesNotThrow(() => assertTransition(from, to));
          return;
        }
        const err = throwsCode(() => assertTransition(from, to), 'invalid_transition', 'status');
        assert.equal(err.status, 409);
        if (from === to) assert.equal(err.message, `the transaction is already ${to}`);
        else assert.equal(err.message, `status cannot change from ${from} to ${to}`);
      });
    }
  }

  it('makes every status but pending and approved final', () => {
    const finals = STATUSES.filter((s) => STATUSES.every((to) => !canTransition(s, to)));
    assert.deepEqual(finals, ['rejected', 'failed', 'reversed', 'abandoned', 'cancelled']);
  });

  for (const s of STATUSES) {
    it(`parses ${s} and types its confirmation transaction.${s}`, () => {
      assert.equal(parseStatus(s), s);
      assert.equal(confirmationType(s), `transaction.${s}`);
    });
  }

  const bad: Array<[unknown, RegExp | null]> = [
    ['APPROVED', /lowercase: "approved"/],
    ['Approved', /lowercase: "approved"/],
    ['paid', null],
    ['', null],
    ['canceled', null],
    [1, null],
    [null, null],
    [undefined, /missing/],
    [['approved'], null],
  ];
  for (const [value, hint] of bad) {
    it(`refuses status ${JSON.stringify(value) ?? 'undefined'}, listing the allowed set`, () => {
      const err = throwsCode(() => parseStatus(value, 'transactions.1.status'), 'invalid_status', 'transactions.1.status');
      assert.ok(err.message.includes(STATUSES.join(', ')), err.message);
      if (hint !== null) assert.match(err.message, hint);
    });
  }

  it('types a status variable to the union', () => {
    const s: Status = parseStatus('failed');
    assert.equal(confirmationType(s), 'transaction.failed');
  });
});

describe('ids', () => {
  const CROCKFORD = /^[0-9A-HJKMNP-TV-Z]{26}$/;
  const decodeTime = (body: string): number =>
    [...body.slice(0, 10)].reduce((t, c) => t * 32 + '0123456789ABCDEFGHJKMNPQRSTVWXYZ'.indexOf(c), 0);

  for (const prefix of ['tx', 'msg', 'mer', 'key', 'sec'] as IdPrefix[]) {
    it(`makes ${prefix}_ ids of 26 Crockford base32 characters carrying the current time`, () => {
      const before = Date.now();
      const id = newId(prefix);
      const after = Date.now();
      assert.ok(id.startsWith(`${prefix}_`), id);
      const body = id.slice(prefix.length + 1);
      assert.match(body, CROCKFORD);
      const t = decodeTime(body);
      assert.ok(t >= before && t <= after, `time ${t} not in [${before}, ${after}]`);
    });
  }

  it('makes 100k unique ids in strictly increasing order, quickly', () => {
    const n = 100_000;
    const started = performance.now();
    const ids = new Array<string>(n);
    for (let i = 0; i < n; i++) ids[i] = newId('tx');
    const ms = performance.now() - started;
    assert.equal(new Set(ids).size, n);
    for (let i = 1; i < n; i++) assert.ok(ids[i - 1]! < ids[i]!, `${ids[i - 1]} !< ${ids[i]} at ${i}`);
    // Typically ~50 ms; the bound only catches a regression to one syscall per id or worse.
    assert.ok(ms < 3000, `100k ids took ${ms.toFixed(0)} ms`);
  });

  it('steps the random part by a random amount within a millisecond, so neighbours cannot be guessed by counting', () => {
    const randomPart = (id: string): bigint =>
      [...id.slice(-16)].reduce((n, c) => n * 32n + BigInt('0123456789ABCDEFGHJKMNPQRSTVWXYZ'.indexOf(c)), 0n);
    let sameMs = 0;
    let bigSteps = 0;
    let prev = newId('msg');
    for (let i = 0; i < 5000; i++) {
      const next = newId('msg');
      if (next.slice(4, 14) === prev.slice(4, 14)) {
        sameMs++;
        const step = randomPart(next) - randomPart(prev);
        assert.ok(step >= 1n && step <= 2n ** 32n, `step ${step}`);
        if (step > 1n) bigSteps++;
      }
      prev = next;
    }
    assert.ok(sameMs > 100, `only ${sameMs} pairs shared a millisecond`);
    assert.ok(bigSteps > sameMs * 0.99, `${bigSteps} of ${sameMs} steps were larger than 1`);
  });

  const clientIds: Array<[unknown, boolean]> = [
    ['a', true],
    ['ORD-2026_11.29:0001', true],
    ['x'.repeat(64), true],
    ['', false],
    ['x'.repeat(65), false],
    ['a b', false],
    ['a/b', false],
    ['pedido#1', false],
    ['ñandú', false],
    ['tx\n', false],
    [123, false],
    [null, false],
    [undefined, false],
  ];
  for (const [value, ok] of clientIds) {
    it(`${ok ? 'accepts' : 'refuses'} client id ${JSON.stringify(value) ?? 'undefined'}`, () => {
      assert.equal(isValidClientId(value), ok);
    });
  }
});
