import { ValidationError } from '../../core/index.js';
import type { PutOptions } from './contract.js';

const NAME = /^[^\u0000-\u001f\u007f]{1,200}$/u;

/** Shared argument checks, so that every backend refuses the same inputs the same way. */
export function assertName(what: 'collection' | 'key', value: string): void {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new ValidationError(`record ${what} must be 1-200 characters without control characters`);
  }
}

export function assertPutOptions(options: PutOptions): void {
  const { ifVersion, expiresAt } = options;
  if (ifVersion !== undefined && !(Number.isSafeInteger(ifVersion) && ifVersion >= 0)) {
    throw new ValidationError('ifVersion must be a non-negative integer');
  }
  if (expiresAt !== undefined && expiresAt !== null && !Number.isSafeInteger(expiresAt)) {
    throw new ValidationError('expiresAt must be an integer epoch ms or null');
  }
}

export function assertLimit(limit: number): void {
  if (!(Number.isSafeInteger(limit) && limit > 0)) {
    throw new ValidationError('limit must be a positive integer');
  }
}
