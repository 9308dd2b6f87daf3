import { ValidationError } from './errors.js';
import type { SessionData, SessionValue } from './session.js';

/** Keys that could reach an object's prototype if the data were ever merged. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
]);

/**
 * How many levels session data may nest. The codecs' encoders recurse, so a
 * deeper document would overflow the stack when stored.
 */
export const MAX_SESSION_DATA_DEPTH = 64;

/** Throws `ValidationError` unless `data` is a plain object of storable values. */
export function assertSessionData(data: unknown): asserts data is SessionData {
  if (!isPlainObject(data)) throw new ValidationError('session data must be a plain object');
  assertSessionValue(data, '', 0);
}

/**
 * Throws `ValidationError` unless `value` is JSON-like (plus `Date`) all the
 * way down. It visits each value once and refuses a level past the cap before
 * descending into it, so its own recursion stays within the cap.
 */
export function assertSessionValue(
  value: unknown,
  at = '',
  depth = 0,
): asserts value is SessionValue {
  if (depth > MAX_SESSION_DATA_DEPTH)
    throw new ValidationError(
      `session data is nested deeper than ${MAX_SESSION_DATA_DEPTH} levels`,
    );
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ValidationError(`${where(at)} is not a finite number`);
    return;
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new ValidationError(`${where(at)} is an invalid Date`);
    return;
  }
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries())
      assertSessionValue(item, `${at}/${index}`, depth + 1);
    return;
  }
  if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      if (FORBIDDEN_KEYS.has(key))
        throw new ValidationError(`${where(`${at}/${key}`)} is a forbidden key`);
      assertSessionValue(item, `${at}/${key}`, depth + 1);
    }
    return;
  }
  throw new ValidationError(`${where(at)} has unsupported type ${typeof value}`);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function where(at: string): string {
  return at === '' ? 'session data' : `value at ${JSON.stringify(at)}`;
}
