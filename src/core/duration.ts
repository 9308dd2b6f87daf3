import { ValidationError } from './errors.js';

/** Milliseconds per unit of the duration strings `parseDuration` reads. */
export const DURATION_UNITS = Object.freeze({
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
} as const);

/**
 * A duration in ms from a number of ms, or a string such as `500`, `500ms`,
 * `90s`, `10m`, `24h`, `30d`. Throws ValidationError for anything else,
 * including negative and fractional values.
 */
export function parseDuration(value: number | string): number {
  const match = typeof value === 'string' ? /^(\d+)(ms|s|m|h|d)?$/.exec(value.trim()) : null;
  const ms =
    typeof value === 'number'
      ? value
      : match
        ? Number(match[1]) * DURATION_UNITS[(match[2] ?? 'ms') as keyof typeof DURATION_UNITS]
        : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < 0)
    throw new ValidationError(
      `expected a duration such as 90s, 10m, 24h, 30d or a number of ms, got ${JSON.stringify(value)}`,
    );
  return ms;
}
