import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SchemaValidator } from '../src/api/schema-validator.js';
import { NoBody, PageQuery } from '../src/api/schemas/common.js';
import { merchantInputs } from '../src/api/schemas/merchant.js';
import { wholeNumberPattern } from '../src/api/schemas/schema.js';
import { BatchItem, IdempotencyHeaders, NewTransaction } from '../src/api/schemas/transaction.js';

/**
 * How a schema's refusal reads (schema-errors.ts): the code, the exact field path and a message
 * a person can act on, which never repeats what could be a card number. The API tests check the
 * same through HTTP for every rule; these pin the wording and the corners.
 */

const validator = new SchemaValidator();
const tx = validator.check(NewTransaction);
const base = { merchantId: 'mer_1', reference: 'r', amount: '1.00', currency: 'COP', status: 'pending' };

function refused(err: ReturnType<typeof tx>): { code: string; field: string | undefined; message: string } {
  assert.ok(err !== undefined, 'expected a refusal');
  return { code: err.code, field: err.field, message: err.message };
}

describe('schema errors', () => {
  it('says what the value should be and what it is, without echoing it', () => {
    assert.deepEqual(refused(tx({ ...base, amount: 10 })), {
      code: 'invalid_amount',
      field: 'amount',
      message:
        'amount must be a decimal string such as "123.45" (digits and at most one point: no sign, exponent, spaces or separators), not a number',
    });
    assert.equal(
      refused(tx({ ...base, reference: 'r'.repeat(129) })).message,
      'reference must be 1 to 128 characters long; it is 129',
    );
    assert.equal(refused(tx({ ...base, customer: 'Ana' })).message, 'customer must be a JSON object or null, not a string');
  });

  it('words a status or currency refusal as the domain does, with its hint', () => {
    assert.deepEqual(refused(tx({ ...base, status: 'Approved' })), {
      code: 'invalid_status',
      field: 'status',
      message:
        'status must be one of: pending, approved, rejected, failed, reversed, abandoned, cancelled; got "Approved" (statuses are lowercase: "approved").',
    });
    const currency = refused(tx({ ...base, currency: 'cop' }));
    assert.deepEqual([currency.code, currency.field], ['invalid_currency', 'currency']);
    assert.match(currency.message, /must be uppercase: send "COP"/);
    const item = validator.check(BatchItem);
    const nested = refused(item({ ...base, status: 'APPROVED' }, ['transactions', '2']));
    assert.equal(nested.field, 'transactions.2.status');
    assert.match(nested.message, /^transactions\.2\.status must be one of: .*statuses are lowercase/);
  });

  it('names unknown and missing fields by their path', () => {
    assert.deepEqual(refused(tx({ ...base, customer: { name: 'A', email: 'a@b.c' } })), {
      code: 'unknown_field',
      field: 'customer.email',
      message: 'customer.email is not a known field (allowed: name, phone)',
    });
    const { merchantId: _, ...noMerchant } = base;
    assert.deepEqual(refused(tx(noMerchant)), { code: 'missing_field', field: 'merchantId', message: 'merchantId is required' });
  });

  it('names a misspelt field rather than the field it stands for', () => {
    const { status: _, ...noStatus } = base;
    const err = refused(tx({ ...noStatus, stauts: 'approved' }));
    assert.deepEqual([err.code, err.field], ['unknown_field', 'stauts']);
  });

  it('puts a batch item under transactions.<i>, its own root included', () => {
    const item = validator.check(BatchItem);
    assert.deepEqual(refused(item('text', ['transactions', '3'])), {
      code: 'invalid_field',
      field: 'transactions.3',
      message: 'transactions.3 must be a JSON object, not a string',
    });
    assert.equal(refused(item({ ...base, amount: '-1' }, ['transactions', '7'])).field, 'transactions.7.amount');
  });

  it('names a metadata key that breaks the key rule, cut short, and never one holding a card number', () => {
    const long = 'k'.repeat(65);
    assert.deepEqual(refused(tx({ ...base, metadata: { [long]: 1 } })), {
      code: 'invalid_field',
      field: `metadata.${'k'.repeat(64)}…`,
      message: `metadata.${'k'.repeat(64)}… is not a valid key: keys must be 1 to 64 characters long; it is 65`,
    });
    const pan = `4111111111111111${'x'.repeat(60)}`;
    const err = refused(tx({ ...base, metadata: { [pan]: 1 } }));
    assert.equal(err.field, 'metadata.(a key holding a card number)');
    assert.equal(err.message.includes('4111'), false, err.message);
  });

  it('shows a number only where its value is the problem, and never one that reads as a card number', () => {
    const m = validator.check(merchantInputs({ leaseMs: 60_000, requireHttps: false }).NewMerchant);
    const shop = { name: 'S', url: 'https://s.example/c' };
    assert.equal(refused(m({ ...shop, maxInFlight: 2.5 })).message, 'maxInFlight must be an integer or null, not 2.5');
    assert.equal(refused(m({ ...shop, maxInFlight: 0 })).message, 'maxInFlight must be between 1 and 1000; it is 0');
    const card = refused(m({ ...shop, maxInFlight: 4111111111111111 }));
    assert.equal(card.message, 'maxInFlight must be between 1 and 1000');
    assert.equal(refused(m({ ...shop, timeoutMs: 58_001 })).message, 'timeoutMs must be between 100 and 58000; it is 58001');
  });

  it('answers the codes the annotations name: retry schedules, batches, idempotency keys', () => {
    const m = validator.check(merchantInputs({ leaseMs: 60_000, requireHttps: false }).NewMerchant);
    const bad = refused(m({ name: 'S', url: 'https://s.example/c', retrySchedule: [5, -1] }));
    assert.deepEqual([bad.code, bad.field], ['invalid_retry_schedule', 'retrySchedule.1']);
    const headers = validator.check(IdempotencyHeaders, 'headers');
    assert.deepEqual(refused(headers({ 'idempotency-key': '' })), {
      code: 'invalid_idempotency_key',
      field: 'Idempotency-Key',
      message: 'Idempotency-Key must be 1 to 255 printable ASCII characters; it is 0',
    });
  });

  it('refuses query parameters as invalid_query, a repeated one as given more than once', () => {
    const q = validator.check(PageQuery, 'querystring');
    assert.deepEqual(refused(q({ limit: ['1', '2'] })), {
      code: 'invalid_query',
      field: 'limit',
      message: 'limit must be given once',
    });
    assert.deepEqual(refused(q({ sort: 'name' })), {
      code: 'invalid_query',
      field: 'sort',
      message: 'sort is not a known query parameter (allowed: after, limit)',
    });
    assert.equal(refused(q({ after: "';--" })).code, 'invalid_cursor');
    assert.equal(q({ limit: '500', after: 'mer_01' }), undefined);
  });

  it('lets an action route take nothing or {}, and names the first field of anything else', () => {
    const none = validator.check(NoBody);
    assert.equal(none(null), undefined);
    assert.equal(none({}), undefined);
    assert.deepEqual([refused(none({ all: true })).code, refused(none({ all: true })).field], ['unknown_field', 'all']);
    assert.equal(refused(none([])).code, 'invalid_body');
  });
});

describe('wholeNumberPattern', () => {
  for (const max of [1, 9, 10, 99, 100, 101, 500, 999, 1000, 4096]) {
    it(`matches exactly 1 to ${max} written plainly`, () => {
      const re = new RegExp(wholeNumberPattern(max), 'u');
      for (let i = 0; i <= max * 10 + 20; i++) assert.equal(re.test(String(i)), i >= 1 && i <= max, String(i));
      for (const s of ['', '01', '+1', '1.0', ' 1', '1e2', '-1']) assert.equal(re.test(s), false, JSON.stringify(s));
    });
  }
});
