import { createHash } from 'node:crypto';
import { generateToken, type RandomSource, ValidationError } from '../core/index.js';
import { ApiKeyInvalidError } from './errors.js';

/*
 * The grammar of a key, 64 characters:
 *
 *   key    = "cs_live_" prefix "_" secret
 *   prefix = 12 * [0-9A-Za-z]        random, public: names the key in logs and UIs
 *   secret = 43 * [A-Za-z0-9_-]      32 CSPRNG bytes, base64url without padding
 *
 * The prefix has a fixed length and no `_`, so the `_` after it is always the
 * separator, whatever `_` the secret contains.
 */
const KEY_NAMESPACE = 'cs_';
const KEY_PATTERN = /^cs_live_([0-9A-Za-z]{12})_([A-Za-z0-9_-]{43})$/;
const PREFIX_PATTERN = /^[0-9A-Za-z]{12}$/;
const PREFIX_LENGTH = 12;
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** The largest multiple of 62 a byte can hold; bytes from here up are dropped so every character is equally likely. */
const UNBIASED_BYTE_LIMIT = 248;

export interface ParsedKey {
  prefix: string;
  secret: string;
}

export function formatKey(prefix: string, secret: string): string {
  return `cs_live_${prefix}_${secret}`;
}

/** Splits a presented key, or throws ApiKeyInvalidError (`missing` or `malformed`). */
export function parseKey(presented: unknown): ParsedKey {
  if (presented === undefined || presented === null || presented === '')
    throw new ApiKeyInvalidError('missing');
  const match = typeof presented === 'string' ? KEY_PATTERN.exec(presented) : null;
  if (!match) throw new ApiKeyInvalidError('malformed');
  return { prefix: match[1] as string, secret: match[2] as string };
}

/**
 * Whether a presented credential is in the API keys' namespace (`cs_…`),
 * well-formed or not: such a value is meant for the gateway, never for an upstream.
 */
export function isApiKeyLike(value: string): boolean {
  return value.startsWith(KEY_NAMESPACE);
}

export function isPrefix(value: unknown): value is string {
  return typeof value === 'string' && PREFIX_PATTERN.test(value);
}

export function assertPrefix(value: unknown): asserts value is string {
  if (!isPrefix(value))
    throw new ValidationError('an API key prefix is 12 characters from 0-9, A-Z and a-z');
}

export function generatePrefix(random: RandomSource): string {
  let prefix = '';
  while (prefix.length < PREFIX_LENGTH) {
    for (const byte of random(PREFIX_LENGTH * 2)) {
      if (byte < UNBIASED_BYTE_LIMIT && prefix.length < PREFIX_LENGTH) prefix += BASE62[byte % 62];
    }
  }
  return prefix;
}

/** 32 bytes from the random source, base64url: the same strength as a session token. */
export function generateSecret(random: RandomSource): string {
  return generateToken(random);
}

/**
 * SHA-256 of the secret, base64url. A fast hash is enough here: the secret
 * has 256 random bits, so no dictionary or brute-force search can reverse the
 * hash of a leaked table, and a slow password hash (bcrypt, scrypt, argon2)
 * would only add milliseconds to every verification without adding safety.
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}
