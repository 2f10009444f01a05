let lastMs = Number.NaN;
let lastIso = '';

/**
 * `toISOString()` of an epoch-ms time, remembered for the last one asked: a commit stamps every
 * row it writes with the same `now`, so bodies and views of one batch format it once.
 */
export function isoTime(ms: number): string {
  if (ms !== lastMs) {
    lastIso = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastIso;
}
