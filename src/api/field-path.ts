import { containsCardNumber } from '../domain/pan.js';

/** Longest key shown in a field path; longer ones are cut and end with `…`. */
export const KEY_SHOWN_MAX = 64;

/**
 * The dotted field path of an error (`transactions.3.metadata.note`), from the keys and indexes
 * that lead to it: keys cut short, made printable, and never a card number, since the path is
 * echoed in the answer and in logs. Undefined for the body itself.
 */
export function fieldOf(path: readonly string[]): string | undefined {
  if (path.length === 0) return undefined;
  return path
    .map((k) => {
      const shown = k.length > KEY_SHOWN_MAX ? `${k.slice(0, KEY_SHOWN_MAX)}…` : k;
      return containsCardNumber(k) ? '(a key holding a card number)' : shown.toWellFormed().replaceAll('\u0000', '\\u0000');
    })
    .join('.');
}
