import { ValidationError } from './errors.js';
import type { PutOptions, RecordValue } from './record-store.js';

// Lone surrogates are refused too: UTF-8 has no encoding for them, so two such names would be one stored key.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const NAME = /^[^\u0000-\u001f\u007f\uD800-\uDFFF]{1,200}$/u;

/** Shared argument checks, so that every backend refuses the same inputs the same way. */
export function assertName(what: 'collection' | 'key', value: string): void {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new ValidationError(`record ${what} must be 1-200 characters without control characters`);
  }
}

export function assertNow(now: number): void {
  if (!Number.isSafeInteger(now)) throw new ValidationError('now must be an integer epoch ms');
}

export function assertIfVersion(ifVersion: number | undefined): void {
  if (ifVersion !== undefined && !(Number.isSafeInteger(ifVersion) && ifVersion >= 0)) {
    throw new ValidationError('ifVersion must be a non-negative integer');
  }
}

export function assertPutOptions(options: PutOptions): void {
  const { now, ifVersion, expiresAt } = options;
  assertNow(now);
  assertIfVersion(ifVersion);
  if (expiresAt !== undefined && expiresAt !== null && !Number.isSafeInteger(expiresAt)) {
    throw new ValidationError('expiresAt must be an integer epoch ms or null');
  }
}

export function assertLimit(limit: number): void {
  if (!(Number.isSafeInteger(limit) && limit > 0)) {
    throw new ValidationError('limit must be a positive integer');
  }
}

export function assertListOptions(options: { now: number; after?: string; limit: number }): void {
  assertNow(options.now);
  assertLimit(options.limit);
  if (options.after !== undefined) assertName('key', options.after);
}

/**
 * The JSON text a value is stored as. Refuses what JSON cannot hold exactly
 * (undefined, functions, BigInt, cycles, NaN and the infinities, which
 * `JSON.stringify` would silently turn into null), so a value reads back as it
 * was written.
 */
export function encodeValue(value: RecordValue): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value, (_key, inner: unknown) => {
      if (typeof inner === 'number' && !Number.isFinite(inner)) throw new TypeError('not finite');
      return inner;
    });
  } catch {
    json = undefined;
  }
  if (json === undefined) throw new ValidationError('a record value must be plain JSON');
  return json;
}
