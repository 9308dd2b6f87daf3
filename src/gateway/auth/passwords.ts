import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { ConfigError, DecodeError } from '../../core/index.js';
import { PasswordPolicyError } from './errors.js';

/** scrypt cost: N = 2^ln, block size r, parallelism p. */
export interface ScryptParameters {
  ln: number;
  r: number;
  p: number;
}

/** 2^15 × 8 × 128 bytes = 32 MiB and some tens of ms per hash: OWASP's scrypt baseline. */
export const SCRYPT_DEFAULTS: Readonly<ScryptParameters> = Object.freeze({ ln: 15, r: 8, p: 1 });

/**
 * Lengths count Unicode code points of the NFC form. The upper bound is
 * checked before any hashing, so an over-long password costs nothing.
 */
export const PASSWORD_POLICY = Object.freeze({ minLength: 8, maxLength: 1024 });

const SALT_BYTES = 16;
const HASH_BYTES = 32;
/** Most memory one hash may take (128·N·r bytes), also for parameters read back from storage. */
const MAX_MEMORY = 256 * 1024 * 1024;
const PHC_SCRYPT =
  /^\$scrypt\$ln=([1-9][0-9]?),r=([1-9][0-9]?),p=([1-9][0-9]?)\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})$/;

/**
 * The password in NFC (so that one password typed through different input
 * methods is one password), or PasswordPolicyError.
 */
export function acceptablePassword(password: unknown): string {
  if (typeof password !== 'string') throw new PasswordPolicyError('the password must be a string');
  const { minLength, maxLength } = PASSWORD_POLICY;
  // Every code point is at most two UTF-16 units: past this, too long without looking further.
  const normalized = password.length > 2 * maxLength ? null : password.normalize('NFC');
  const length = normalized === null ? Number.POSITIVE_INFINITY : codePoints(normalized);
  if (normalized === null || length > maxLength || length < minLength) {
    throw new PasswordPolicyError(
      `the password must be ${minLength} to ${maxLength} characters long`,
    );
  }
  return normalized;
}

/** A PHC string `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` (base64 without padding) for the password. */
export async function hashPassword(
  password: string,
  parameters: Readonly<ScryptParameters> = SCRYPT_DEFAULTS,
): Promise<string> {
  assertParameters(parameters, (message) => new ConfigError(message));
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(acceptablePassword(password), salt, parameters);
  const { ln, r, p } = parameters;
  return `$scrypt$ln=${ln},r=${r},p=${p}$${unpadded(salt)}$${unpadded(hash)}`;
}

/**
 * Whether the password matches the stored PHC string, hashed with the
 * parameters the string names and compared in constant time. A password
 * outside the policy is false without hashing.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const { parameters, salt, hash } = parsePhc(stored);
  let normalized: string;
  try {
    normalized = acceptablePassword(password);
  } catch (error) {
    if (error instanceof PasswordPolicyError) return false;
    throw error;
  }
  return timingSafeEqual(await derive(normalized, salt, parameters), hash);
}

/** Whether a stored hash was made with other parameters than `current` (then rehash it at the next login). */
export function needsRehash(
  stored: string,
  current: Readonly<ScryptParameters> = SCRYPT_DEFAULTS,
): boolean {
  const { parameters } = parsePhc(stored);
  return parameters.ln !== current.ln || parameters.r !== current.r || parameters.p !== current.p;
}

function parsePhc(stored: string): { parameters: ScryptParameters; salt: Buffer; hash: Buffer } {
  const match = typeof stored === 'string' ? PHC_SCRYPT.exec(stored) : null;
  if (!match) throw new DecodeError('stored password hash is not a supported scrypt PHC string');
  const [, ln, r, p, salt, hash] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const parameters = { ln: Number(ln), r: Number(r), p: Number(p) };
  assertParameters(parameters, (message) => new DecodeError(`stored password hash: ${message}`));
  return { parameters, salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
}

function assertParameters(
  { ln, r, p }: Readonly<ScryptParameters>,
  fail: (message: string) => Error,
): void {
  const integers = [ln, r, p].every((n) => Number.isSafeInteger(n) && n >= 1);
  if (!integers || ln > 24 || p > 16 || 128 * 2 ** ln * r > MAX_MEMORY) {
    throw fail('scrypt parameters must be positive integers using at most 256 MiB, p at most 16');
  }
}

function derive(password: string, salt: Buffer, { ln, r, p }: ScryptParameters): Promise<Buffer> {
  const N = 2 ** ln;
  // Node's default maxmem (32 MiB) is exactly the default cost and would refuse it.
  const maxmem = 2 * 128 * N * r + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, HASH_BYTES, { N, r, p, maxmem }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

function unpadded(bytes: Buffer): string {
  return bytes.toString('base64').replace(/=+$/, '');
}

function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}
