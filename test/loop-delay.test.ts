import assert from 'node:assert/strict';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LoopDelay } from '../src/observe/loop-delay.js';

it('loop delay: a blocked event loop shows in its window, and a quiet window replaces it', async () => {
  const windowMs = 600;
  const started = Date.now();
  const delay = new LoopDelay(windowMs);
  /** Sleeps until `ms` after the start: reads happen mid-window, away from the rolls. */
  const at = (ms: number): Promise<void> => sleep(Math.max(0, started + ms - Date.now()));
  try {
    await at(50);
    while (Date.now() < started + 250); // block the loop for ~200 ms in the first window
    await at(900); // the first window (0–600 ms) is complete; the second is under way
    const blocked = delay.read();
    assert.ok(blocked.max >= 0.15, `max ${blocked.max}`);
    assert.ok(blocked.p50 <= blocked.p99 && blocked.p99 <= blocked.max);
    await at(2_100); // the third window (1,200–1,800 ms) was quiet
    assert.ok(delay.read().max < 0.1, `max ${delay.read().max}`);
  } finally {
    delay.stop();
  }
});
