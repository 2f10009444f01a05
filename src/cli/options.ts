import { InvalidArgumentError } from 'commander';

/** A whole number within bounds, for commander option parsers. */
export function intOption(name: string, min: number, max: number): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be a whole number ${min}..${max}`);
    return n;
  };
}
