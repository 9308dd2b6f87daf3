import { describe, expect, it } from 'vitest';
import { ConfigError, DecodeError } from '../../../src/core/index.js';
import {
  hashPassword,
  needsRehash,
  PasswordPolicyError,
  verifyPassword,
} from '../../../src/gateway/auth/index.js';

const PASSWORD = 'correct horse battery staple';
const CHEAP = { ln: 10, r: 8, p: 1 };

describe('scrypt password hashes', () => {
  it('salts every hash and verifies with the parameters the hash names', async () => {
    const first = await hashPassword(PASSWORD, CHEAP);
    const second = await hashPassword(PASSWORD, CHEAP);
    expect(first).not.toBe(second);
    expect(first).toMatch(/^\$scrypt\$ln=10,r=8,p=1\$/);
    expect(await verifyPassword(PASSWORD, first)).toBe(true);
    expect(await verifyPassword(PASSWORD, second)).toBe(true);
    expect(await verifyPassword('correct horse battery stapler', first)).toBe(false);
    const stronger = await hashPassword(PASSWORD, { ln: 11, r: 8, p: 2 });
    expect(await verifyPassword(PASSWORD, stronger)).toBe(true);
  });

  it('says when a hash was made with other parameters than the current ones', async () => {
    const hash = await hashPassword(PASSWORD, CHEAP);
    expect(needsRehash(hash, CHEAP)).toBe(false);
    expect(needsRehash(hash, { ...CHEAP, ln: 11 })).toBe(true);
    expect(needsRehash(hash)).toBe(true);
  });

  it('is false for an over-long password, and refuses to make a hash of one', async () => {
    const hash = await hashPassword(PASSWORD, CHEAP);
    expect(await verifyPassword('x'.repeat(10_000), hash)).toBe(false);
    await expect(hashPassword('x'.repeat(10_000), CHEAP)).rejects.toBeInstanceOf(
      PasswordPolicyError,
    );
  });

  it('refuses a stored hash it cannot read and parameters beyond its bounds', async () => {
    const hash = await hashPassword(PASSWORD, CHEAP);
    for (const stored of [
      '',
      'plaintext',
      hash.replace('ln=10', 'ln=30'),
      hash.replace('ln=10', 'ln=0'),
      hash.slice(0, -1),
      hash.replace('$scrypt$', '$pbkdf2$'),
    ]) {
      await expect(verifyPassword(PASSWORD, stored)).rejects.toBeInstanceOf(DecodeError);
    }
    await expect(hashPassword(PASSWORD, { ln: 22, r: 16, p: 1 })).rejects.toBeInstanceOf(
      ConfigError,
    );
  });
});
