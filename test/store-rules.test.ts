import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CONFIRMATION_STATES,
  ORDER_BLOCKING_STATES,
  PROMOTION_BLOCKING_STATES,
  QUEUE_STATES,
  blocksOrder,
} from '../src/domain/confirmation.js';
import type { Merchant } from '../src/domain/merchant.js';
import type { Claim } from '../src/domain/confirmation.js';
import {
  newConfirmationState,
  ORDER_BLOCKING_STATES_SQL,
  outcomeColumns,
  patchMerchant,
  PROMOTION_BLOCKING_STATES_SQL,
  releasesOrder,
  settingsColumns,
  withinCapacity,
  type Row,
} from '../src/store/rows.js';

/**
 * The rules both stores share (rows.ts, domain/confirmation.ts), tested on their own; the contract
 * suite checks that each store follows them.
 */

describe('per-transaction order', () => {
  it('holds a new confirmation back behind any that is not delivered or dead, a waiting one included', () => {
    assert.deepEqual([...ORDER_BLOCKING_STATES].sort(), ['inflight', 'parked', 'pending', 'waiting']);
    for (const s of CONFIRMATION_STATES) assert.equal(blocksOrder(s), s !== 'delivered' && s !== 'dead', s);
  });

  it('promotes the head of the line once nothing ahead of it is left: the same states but waiting', () => {
    assert.deepEqual([...PROMOTION_BLOCKING_STATES].sort(), ORDER_BLOCKING_STATES.filter((s) => s !== 'waiting').sort());
  });

  it('writes the states into SQL as quoted lists', () => {
    assert.equal(ORDER_BLOCKING_STATES_SQL, "'waiting', 'pending', 'inflight', 'parked'");
    assert.equal(PROMOTION_BLOCKING_STATES_SQL, "'pending', 'inflight', 'parked'");
    assert.deepEqual(QUEUE_STATES, ['pending', 'inflight']);
  });

  it('makes a new confirmation waiting behind an open one, else parked for a disabled merchant, else pending', () => {
    assert.equal(newConfirmationState(true, false), 'waiting');
    assert.equal(newConfirmationState(true, true), 'waiting');
    assert.equal(newConfirmationState(false, true), 'parked');
    assert.equal(newConfirmationState(false, false), 'pending');
  });
});

const merchant: Merchant = {
  id: 'mer_1',
  name: 'Tienda',
  url: 'https://tienda.example/c',
  format: 'epayco',
  maxInFlight: 8,
  timeoutMs: 5_000,
  retrySchedule: [0, 5],
  epayco: { custId: 'c1', sealedPKey: 'sealed-1' },
  disabledAt: null,
  disabledReason: null,
  createdAt: 1,
  updatedAt: 1,
};

describe('merchant patch', () => {
  it('keeps every field a patch leaves out, and touches no queue', () => {
    const { columns, queue } = patchMerchant(merchant, {}, 50);
    assert.deepEqual(columns, { ...settingsColumns(merchant), disabled_at: null, disabled_reason: null });
    assert.equal(columns.retry_schedule, '[0,5]');
    assert.equal(queue, undefined);
  });

  it('replaces what it names, and null puts a setting back to the default', () => {
    const { columns } = patchMerchant(merchant, { name: 'Otra', maxInFlight: null, timeoutMs: 900, retrySchedule: null }, 50);
    assert.equal(columns.name, 'Otra');
    assert.equal(columns.max_in_flight, null);
    assert.equal(columns.timeout_ms, 900);
    assert.equal(columns.retry_schedule, null);
    assert.equal(columns.url, merchant.url);
  });

  it('removes the ePayco credentials on a switch to standard (null), replaces them when given', () => {
    const off = patchMerchant(merchant, { format: 'standard', epayco: null }, 50).columns;
    assert.deepEqual([off.format, off.epayco_cust_id, off.epayco_p_key_sealed], ['standard', null, null]);
    const next = patchMerchant(merchant, { epayco: { custId: 'c2', sealedPKey: 'sealed-2' } }, 50).columns;
    assert.deepEqual([next.epayco_cust_id, next.epayco_p_key_sealed], ['c2', 'sealed-2']);
  });

  it('disables with the time and the admin as the reason, and parks the queue', () => {
    const { columns, queue } = patchMerchant(merchant, { enabled: false }, 50);
    assert.deepEqual([columns.disabled_at, columns.disabled_reason, queue], [50, 'disabled by admin', 'park']);
  });

  it('keeps an earlier disabling as it was (a 410 stays the reason), with nothing more to park', () => {
    const gone: Merchant = { ...merchant, disabledAt: 10, disabledReason: 'endpoint answered 410 Gone' };
    const { columns, queue } = patchMerchant(gone, { enabled: false }, 50);
    assert.deepEqual([columns.disabled_at, columns.disabled_reason, queue], [10, 'endpoint answered 410 Gone', undefined]);
  });

  it('enables by clearing both and unparks the queue; enabling an enabled merchant changes nothing', () => {
    const gone: Merchant = { ...merchant, disabledAt: 10, disabledReason: 'endpoint answered 410 Gone' };
    const on = patchMerchant(gone, { enabled: true }, 50);
    assert.deepEqual([on.columns.disabled_at, on.columns.disabled_reason, on.queue], [null, null, 'unpark']);
    assert.equal(patchMerchant(merchant, { enabled: true }, 50).queue, undefined);
  });
});

const claim: Claim = {
  id: 'msg_1',
  merchantId: 'mer_1',
  transactionId: 'tx_1',
  seq: 1,
  body: '{}',
  format: 'standard',
  tries: 2,
  token: 3,
};

describe('outcome to row', () => {
  it('delivered: no retry left to count, the delivery time, no error', () => {
    assert.deepEqual(outcomeColumns(claim, { kind: 'delivered' }, 500), {
      state: 'delivered',
      due_at: null,
      tries: 0,
      last_error: null,
      delivered_at: 500,
    });
  });

  it('retry: pending at its time, one more try, the reason kept', () => {
    assert.deepEqual(outcomeColumns(claim, { kind: 'retry', at: 900, reason: 'HTTP 503' }, 500), {
      state: 'pending',
      due_at: 900,
      tries: 3,
      last_error: 'HTTP 503',
      delivered_at: null,
    });
  });

  it('dead and disable: off the queue (dead, parked) with their reason', () => {
    assert.deepEqual(outcomeColumns(claim, { kind: 'dead', reason: 'gave up' }, 500), {
      state: 'dead',
      due_at: null,
      tries: 3,
      last_error: 'gave up',
      delivered_at: null,
    });
    assert.deepEqual(outcomeColumns(claim, { kind: 'disable', reason: '410' }, 500), {
      state: 'parked',
      due_at: null,
      tries: 3,
      last_error: '410',
      delivered_at: null,
    });
  });

  it('lets the next confirmation of the transaction go only once delivered or dead', () => {
    assert.deepEqual((['delivered', 'retry', 'dead', 'disable'] as const).filter(releasesOrder), ['delivered', 'dead']);
  });
});

describe('claim capacity', () => {
  const row = (id: string, merchantId: string): Row => ({ id, merchant_id: merchantId });

  it("takes rows in order up to each merchant's free slots, the default for a merchant not named", () => {
    const rows = [row('1', 'a'), row('2', 'b'), row('3', 'a'), row('4', 'c'), row('5', 'a'), row('6', 'c'), row('7', 'c')];
    const taken = withinCapacity(rows, {
      capacity: new Map([
        ['a', 2],
        ['b', 0],
      ]),
      defaultCapacity: 2,
    });
    assert.deepEqual(
      taken.map((r) => r.id),
      ['1', '3', '4', '6'],
    );
  });

  it('takes nothing for a merchant with no free slot, even with a default', () => {
    assert.deepEqual(withinCapacity([row('1', 'a')], { capacity: new Map([['a', 0]]), defaultCapacity: 5 }), []);
  });
});
