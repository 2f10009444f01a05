import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { normaliseDigits } from '../src/domain/pan.js';
import { ADMIN_KEY, TEST_LOG_DIR } from './helpers/engine.js';

/**
 * Runs last (files run in name order, one at a time): every engine and child process the suite
 * started logged at debug level into TEST_LOG_DIR. None of it may hold the customer data planted
 * in every test transaction (test/helpers/engine.ts txBody), a signing secret or an API key.
 */
const PLANTED_PANS = ['4111111111111111', '5500000000000004', '378282246310005'];

it('no planted customer name, phone, card number, secret or key appears in any log of the suite', (t) => {
  if (!existsSync(TEST_LOG_DIR)) {
    t.skip('no logs captured: run the whole suite with npm test');
    return;
  }
  const files = readdirSync(TEST_LOG_DIR).filter((f) => f.endsWith('.log'));
  let bytes = 0;
  const planted = ['Ana Gómez', 'Gómez', '300 555 0101', '3005550101', 'whsec_', 'cfm_mk_', 'cfm_ak_', ADMIN_KEY];
  for (const f of files) {
    const text = readFileSync(path.join(TEST_LOG_DIR, f), 'utf8');
    bytes += text.length;
    for (const p of planted) {
      const at = text.indexOf(p);
      assert.equal(at, -1, `${f} holds "${p}": …${text.slice(Math.max(at - 120, 0), at + 60)}…`);
    }
    // The card numbers the suite sends in every field and formatting (hostile-input, pan,
    // security): none may reach a log, however it was written.
    for (const line of text.split('\n')) {
      const digits = normaliseDigits(line).replace(/\D/g, '');
      for (const pan of PLANTED_PANS)
        assert.equal(digits.includes(pan), false, `${f} holds a card number: ${line.slice(0, 300)}`);
    }
  }
  assert.ok(
    files.length >= 5 && bytes > 10_000,
    `too little was logged to prove anything (${files.length} files, ${bytes} bytes)`,
  );
});
