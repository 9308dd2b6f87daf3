import { describe, expect, it } from 'vitest';
import {
  constantTimeEqual,
  generateToken,
  InvalidTokenError,
  type RandomSource,
  sessionIdOf,
} from '../../src/core/index.js';

describe('generateToken', () => {
  it('is the 43-character base64url form of 32 bytes from the injected random source', () => {
    const requested: number[] = [];
    const bytes = Uint8Array.from({ length: 32 }, (_, i) => i * 8 + 3);
    const random: RandomSource = (size) => {
      requested.push(size);
      return bytes;
    };
    const token = generateToken(random);
    expect(requested).toEqual([32]);
    expect(token).toHaveLength(43);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, 'base64url')).toEqual(Buffer.from(bytes));
  });

  it('uses the base64url alphabet, never "+", "/" or padding', () => {
    expect(generateToken(() => new Uint8Array(32).fill(0xff))).toBe(`${'_'.repeat(42)}8`);
    expect(generateToken(() => new Uint8Array(32).fill(0xfb))).toMatch(/^[-_A-Za-z0-9]+$/);
  });

  it('throws when the random source returns the wrong number of bytes', () => {
    for (const size of [0, 16, 31, 33, 64]) {
      expect(() => generateToken(() => new Uint8Array(size)), `${size} bytes`).toThrow(RangeError);
    }
  });

  it('draws from the CSPRNG by default, so two tokens differ', () => {
    const tokens = new Set(Array.from({ length: 100 }, () => generateToken()));
    expect(tokens.size).toBe(100);
    for (const token of tokens) expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe('sessionIdOf', () => {
  it('is the SHA-256 of the token, in lowercase hex', () => {
    const token = generateToken(() => new Uint8Array(32));
    expect(token).toBe('A'.repeat(43));
    // echo -n AAAA…A (43 characters) | sha256sum
    expect(sessionIdOf(token)).toBe(
      '0f007385b6f9d4b7eeb2748605afe1a984a0a3bfa3f014d09e2a784ce9e5cd1a',
    );
  });

  it('gives different ids for tokens that differ in one character', () => {
    const a = `${'A'.repeat(42)}A`;
    const b = `${'A'.repeat(42)}B`;
    expect(sessionIdOf(a)).not.toBe(sessionIdOf(b));
    expect(sessionIdOf(a)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses anything that is not a 43-character base64url token', () => {
    for (const token of [
      '',
      'A'.repeat(42),
      'A'.repeat(44),
      `${'A'.repeat(42)}=`,
      `${'A'.repeat(42)}+`,
      42,
    ]) {
      expect(() => sessionIdOf(token as string), String(token)).toThrow(InvalidTokenError);
    }
  });
});

describe('constantTimeEqual', () => {
  it('is true for equal strings, the empty string included', () => {
    expect(constantTimeEqual('secret-value', 'secret-value')).toBe(true);
    expect(constantTimeEqual('', '')).toBe(true);
    expect(constantTimeEqual('ünïcødé ✓', 'ünïcødé ✓')).toBe(true);
  });

  it('is false for strings of the same length that differ', () => {
    expect(constantTimeEqual('secret-value', 'secret-valuf')).toBe(false);
    expect(constantTimeEqual('Secret', 'secret')).toBe(false);
  });

  it('is false, without throwing, for strings of different lengths', () => {
    expect(constantTimeEqual('secret', 'secret-value')).toBe(false);
    expect(constantTimeEqual('', 'a')).toBe(false);
    expect(constantTimeEqual('a'.repeat(1000), 'a')).toBe(false);
  });
});
