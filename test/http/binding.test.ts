import { describe, expect, it } from 'vitest';
import type { Session } from '../../src/core/index.js';
import { bindingMismatches } from '../../src/http/binding.js';
import { normalizeIp, sameNetwork } from '../../src/http/index.js';

function session(ip: string | null, userAgent: string | null): Session {
  return {
    id: 'a'.repeat(64),
    userId: 'alice',
    data: {},
    version: 1,
    createdAt: 0,
    lastActiveAt: 0,
    idleExpiresAt: 1,
    absoluteExpiresAt: 1,
    tokenIssuedAt: 0,
    ip,
    userAgent,
  };
}

describe('IP binding', () => {
  it('puts IPv4 addresses of one /24 in the same network, and others not', () => {
    expect(sameNetwork('203.0.113.9', '203.0.113.250')).toBe(true);
    expect(sameNetwork('203.0.113.9', '203.0.114.9')).toBe(false);
    expect(sameNetwork('10.0.0.1', '11.0.0.1')).toBe(false);
  });

  it('puts IPv6 addresses of one /64 in the same network, however they are written', () => {
    expect(sameNetwork('2001:db8:1:2::1', '2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe(true);
    expect(sameNetwork('2001:0db8:0001:0002::', '2001:db8:1:2:0:0:0:7')).toBe(true);
    expect(sameNetwork('2001:db8:1:2::1', '2001:db8:1:3::1')).toBe(false);
    expect(sameNetwork('::1', '::2')).toBe(true);
    expect(sameNetwork('::ffff:1.2.3.4', '1.2.3.200')).toBe(true);
    expect(sameNetwork('64:ff9b::1.2.3.4', '64:ff9b::9.9.9.9')).toBe(true);
  });

  it('never matches across families or with something that is not an address', () => {
    expect(sameNetwork('1.2.3.4', '::1')).toBe(false);
    expect(sameNetwork('1.2.3.4', 'not-an-ip')).toBe(false);
    expect(sameNetwork('', '')).toBe(false);
  });

  it('reads an IPv4-mapped IPv6 address as its IPv4 address', () => {
    expect(normalizeIp('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeIp('junk')).toBeNull();
    expect(normalizeIp(undefined)).toBeNull();
  });

  it("matches the same /24 under 'subnet' (the default) but only the same address under 'exact'", () => {
    const stored = session('203.0.113.9', null);
    const near = { ip: '203.0.113.10', userAgent: null };
    expect(bindingMismatches(stored, near, { ip: 'revoke' })).toEqual([]);
    expect(bindingMismatches(stored, near, { ip: 'revoke', ipMatch: 'exact' })).toMatchObject([
      { field: 'ip', expected: '203.0.113.9', actual: '203.0.113.10', action: 'revoke' },
    ]);
    expect(
      bindingMismatches(stored, { ip: '198.51.100.1', userAgent: null }, { ip: 'log' }),
    ).toMatchObject([{ field: 'ip', action: 'log' }]);
    expect(bindingMismatches(stored, { ip: null, userAgent: null }, { ip: 'log' })).toHaveLength(1);
  });

  it("checks nothing when the policy is 'off' or the session has no recorded value", () => {
    const stored = session('203.0.113.9', 'ua/1');
    const other = { ip: '198.51.100.1', userAgent: 'ua/2' };
    expect(bindingMismatches(stored, other, {})).toEqual([]);
    expect(bindingMismatches(stored, other, { ip: 'off', userAgent: 'off' })).toEqual([]);
    expect(
      bindingMismatches(session(null, null), other, { ip: 'revoke', userAgent: 'revoke' }),
    ).toEqual([]);
  });

  it('compares a long User-Agent as the manager stored it, cut to 512 characters', () => {
    const long = 'x'.repeat(600);
    const stored = session(null, long.slice(0, 512));
    expect(
      bindingMismatches(stored, { ip: null, userAgent: long }, { userAgent: 'revoke' }),
    ).toEqual([]);
  });
});
