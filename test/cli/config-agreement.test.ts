import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// `npm test` builds first (pretest), so this drives the real `clawsession` bin.
const BIN = resolve('dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'clawsession-agreement-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ADMIN_TOKEN = randomBytes(32).toString('base64url');
const ed25519 = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });

/** Each config differs from a good one in one mistake that `serve` would meet. */
const BAD_CONFIGS: [string, Record<string, unknown>, RegExp][] = [
  [
    'an upstream without a scheme',
    { routes: [{ prefix: '/api', upstream: 'localhost:3000' }] },
    /routes\.0\.upstream/,
  ],
  ['a store URL of no known kind', { store: 'mysql://x' }, /store.*unsupported store URL/s],
  [
    'a store URL missing its colon',
    { store: 'redis//host' },
    /unsupported store URL "redis\/\/host"/,
  ],
  [
    'a misspelt Redis store option',
    { store: 'redis://127.0.0.1:6379?prefx=a:' },
    /unknown option "prefx" in the redis store URL: it takes prefix/,
  ],
  [
    'a misspelt PostgreSQL store option',
    { store: 'postgres://127.0.0.1:5432/test?schma=app' },
    /unknown option "schma" in the postgres store URL/,
  ],
  [
    'an option on a SQLite store',
    { store: 'sqlite:./x.db?mode=ro' },
    /sqlite store URL: it takes no options/,
  ],
  [
    'a bad memory store limit',
    { store: 'memory:?max=0' },
    /memory:\?max= needs a positive integer/,
  ],
  [
    'a bad tier inside a tiered store',
    { store: 'tiered:memory:|mysql://x' },
    /unsupported store URL "mysql:\/\/x"/,
  ],
  [
    'an idle timeout longer than the absolute one',
    { idleTimeout: '48h', absoluteTimeout: '24h' },
    /idleTimeout.*must not be longer than absoluteTimeout/,
  ],
  [
    'an encryption key of the wrong length',
    { encryptionKeys: 'k1:c2hvcnQ=' },
    /must be 32 bytes, got 5/,
  ],
  [
    'a signing key of no type',
    { signingKey: JSON.stringify({ d: 'abc' }) },
    /Ed25519 \(OKP\) or P-256/,
  ],
  [
    'a signing key that is not a valid key',
    { signingKey: JSON.stringify({ ...ed25519, x: 'AAAA' }) },
    /signing JWK is not a usable EdDSA key/,
  ],
  ['a port that is not a number', { port: 'http' }, /port/],
  [
    'a metrics port equal to the main port',
    { port: 8123, metrics: { port: 8123 } },
    /metrics\.port.*must differ from port/s,
  ],
  ['a weak admin token', { adminToken: 'password' }, /adminToken/],
  ['an unknown setting', { storee: 'memory:' }, /storee/],
];

async function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env.PATH }, timeout: 15_000 },
      (error, _stdout, stderr) => {
        resolvePromise({ code: error ? (child.exitCode ?? null) : 0, stderr });
      },
    );
  });
}

describe('config check and serve refuse the same configs with the same error', () => {
  it.each(BAD_CONFIGS)('%s', async (name, mistake, expected) => {
    const file = join(dir, `${name.replaceAll(' ', '-')}.json`);
    writeFileSync(
      file,
      JSON.stringify({ adminToken: ADMIN_TOKEN, store: 'memory:', port: 0, ...mistake }),
    );
    const [checked, served] = await Promise.all([
      run(['config', 'check', file]),
      run(['serve', '--config', file]),
    ]);
    expect(checked.code).toBe(2);
    expect(checked.stderr).toMatch(expected);
    expect(checked.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(served).toEqual(checked);
  });
});
