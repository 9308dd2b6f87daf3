import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/index.js';
import { loadConfig, parseConfig } from '../../src/gateway/index.js';
import { estimatedEntropyBits } from '../../src/gateway/secret-strength.js';

describe('gateway config durations', () => {
  it('reads numbers of ms, bare digits from the environment, and unit strings', () => {
    expect(parseConfig({ idleTimeout: 90_000 }).idleTimeout).toBe(90_000);
    expect(parseConfig({ idleTimeout: '90s' }).idleTimeout).toBe(90_000);
    expect(parseConfig({ rotation: { interval: '1h', grace: '500ms' } }).rotation).toEqual({
      interval: 3_600_000,
      grace: 500,
    });
    const fromEnv = loadConfig({ env: { CLAWSESSION_IDLE_TIMEOUT: '60000' } });
    expect(fromEnv.idleTimeout).toBe(60_000);
  });

  it('refuses zero, negative, fractional and unknown-unit durations, naming the field', () => {
    for (const idleTimeout of [0, '0s', -5, '-5m', '1.5h', '10 minutes', '', 1.5]) {
      expect(() => parseConfig({ idleTimeout }), String(idleTimeout)).toThrow(
        /idleTimeout \(CLAWSESSION_IDLE_TIMEOUT\): expected a positive duration/,
      );
    }
    expect(() => parseConfig({ idleTimeout: '0' })).toThrow(ConfigError);
  });
});

describe('gateway config for what the proxy forwards', () => {
  it('reads the public host and the header cap from the environment, with their defaults', () => {
    expect(parseConfig({})).toMatchObject({ maxRequestHeaders: 100 });
    expect(parseConfig({}).publicHost).toBeUndefined();
    const fromEnv = loadConfig({
      env: {
        CLAWSESSION_PUBLIC_HOST: 'gateway.example.com:8443',
        CLAWSESSION_MAX_REQUEST_HEADERS: '250',
      },
    });
    expect(fromEnv).toMatchObject({
      publicHost: 'gateway.example.com:8443',
      maxRequestHeaders: 250,
    });
    expect(parseConfig({ publicHost: '[2001:db8::1]' }).publicHost).toBe('[2001:db8::1]');
  });

  it('refuses a public host that is not host[:port], and a header cap Node could not enforce', () => {
    for (const publicHost of [
      '',
      'https://gateway.example',
      'gateway.example/x',
      'a b',
      'gw:0x1',
      'gw:70000',
    ]) {
      expect(() => parseConfig({ publicHost }), publicHost).toThrow(
        /publicHost \(CLAWSESSION_PUBLIC_HOST\)/,
      );
    }
    for (const maxRequestHeaders of [0, 9, 1000, 2.5]) {
      expect(() => parseConfig({ maxRequestHeaders }), String(maxRequestHeaders)).toThrow(
        /maxRequestHeaders \(CLAWSESSION_MAX_REQUEST_HEADERS\)/,
      );
    }
  });

  it('gives each route a pool of 128 connections unless it says otherwise', () => {
    const upstream = 'http://127.0.0.1:7001';
    const { routes } = parseConfig({
      routes: [
        { prefix: '/a', upstream },
        { prefix: '/b', upstream, connections: 4 },
      ],
    });
    expect(routes.map((route) => route.connections)).toEqual([128, 4]);
    for (const connections of [0, -1, 1.5, '4'])
      expect(() => parseConfig({ routes: [{ prefix: '/a', upstream, connections }] })).toThrow(
        /routes\.0\.connections/,
      );
  });
});

describe('gateway config: a weak admin token is refused', () => {
  const weak = [
    'short',
    'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    '1234567890123456',
    '12345678901234567890123456789012345678901234567890',
    'passwordpassword',
    'passwordpasswordpasswordpasswordpassword',
    'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ',
    'gateway-root-token-0123456789',
    'Tr0ub4dor&3Tr0ub4dor&3',
    'ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12',
  ];
  const strong = [
    randomBytes(32).toString('base64url'),
    randomBytes(32).toString('base64'),
    randomBytes(32).toString('hex'),
    randomBytes(24).toString('base64url'),
  ];

  it.each(weak)('refuses %s, naming the field and how to generate one', (adminToken) => {
    expect(() => parseConfig({ adminToken })).toThrow(ConfigError);
    expect(() => parseConfig({ adminToken })).toThrow(
      /adminToken \(CLAWSESSION_ADMIN_TOKEN\): is too weak: .*openssl rand -base64 32.*randomBytes\(32\)/,
    );
  });

  it('refuses it from the environment too', () => {
    expect(() => loadConfig({ env: { CLAWSESSION_ADMIN_TOKEN: 'passwordpassword' } })).toThrow(
      /adminToken \(CLAWSESSION_ADMIN_TOKEN\): is too weak/,
    );
  });

  it('accepts generated tokens in the usual encodings', () => {
    for (const adminToken of strong) {
      expect(parseConfig({ adminToken }).adminToken, adminToken).toBe(adminToken);
    }
  });

  it('estimates a repeated or sequential token below a random one of the same length', () => {
    const random = randomBytes(30).toString('base64url');
    expect(estimatedEntropyBits(random)).toBeGreaterThanOrEqual(128);
    expect(estimatedEntropyBits(random.slice(0, 20).repeat(2))).toBeLessThan(
      estimatedEntropyBits(random),
    );
    expect(estimatedEntropyBits('a'.repeat(40))).toBeLessThan(16);
    expect(estimatedEntropyBits('0123456789'.repeat(4))).toBeLessThan(32);
  });
});
