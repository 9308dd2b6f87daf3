import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { InvalidTokenError } from './errors.js';

/** Where random bytes come from; injectable so tests can make tokens predictable. */
export type RandomSource = (size: number) => Uint8Array;

export const TOKEN_BYTES = 32;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export const cryptoRandom: RandomSource = (size) => randomBytes(size);

/** A new session token: 32 bytes from the random source, base64url without padding. */
export function generateToken(random: RandomSource = cryptoRandom): string {
  const bytes = random(TOKEN_BYTES);
  if (bytes.length !== TOKEN_BYTES) {
    throw new RangeError(`random source returned ${bytes.length} bytes, expected ${TOKEN_BYTES}`);
  }
  return Buffer.from(bytes).toString('base64url');
}

/** Throws `InvalidTokenError` unless `token` has the shape `generateToken` produces. */
export function assertToken(token: unknown): asserts token is string {
  if (typeof token !== 'string' || !TOKEN_PATTERN.test(token)) throw new InvalidTokenError();
}

/** The id a store keeps for a token: SHA-256 of it, hex. A dump of ids cannot be replayed. */
export function sessionIdOf(token: string): string {
  assertToken(token);
  return sha256Hex(token);
}

/** One-shot `hash`: on every request's token, a Hash object per call costs twice as much. */
export function sha256Hex(value: string): string {
  // The one-shot form: no Hash object per request, on the path of every session read.
  return hash('sha256', value, 'hex');
}

/**
 * Compares two secrets without leaking, through timing, how much of them
 * matched. Both sides are hashed first so that their lengths leak nothing either.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const da = hash('sha256', a, 'buffer');
  const db = hash('sha256', b, 'buffer');
  return timingSafeEqual(da, db);
}
