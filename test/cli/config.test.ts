import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

// `npm test` builds first (pretest), so this drives the real `clawsession` bin.
const BIN = resolve('dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'clawsession-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function check(file: string, env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [BIN, 'config', 'check', file],
      { env: { PATH: process.env.PATH, ...env } },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('clawsession config check', () => {
  it('accepts a valid YAML file and summarizes it without opening the store', async () => {
    const file = write(
      'ok.yaml',
      [
        'store: postgres://app:secret@127.0.0.1:1/nowhere',
        'routes:',
        '  - { prefix: /api/, upstream: http://127.0.0.1:7001 }',
        '  - { prefix: /public/, upstream: http://127.0.0.1:7002, auth: none }',
        'rateLimits:',
        '  loginPerAccount: { limit: 3, window: 10m }',
      ].join('\n'),
    );
    const result = await check(file);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('config ok');
    expect(result.stdout).toContain('/api/ -> http://127.0.0.1:7001 (session)');
    expect(result.stdout).toContain('/public/ -> http://127.0.0.1:7002 (none)');
    expect(result.stdout).not.toContain('secret');
  });

  it('says whether anomaly detection is on, and which rules run with which action', async () => {
    expect((await check(write('plain.yaml', 'port: 8081'))).stdout).toContain(
      'anomaly detection: off',
    );
    const file = write(
      'anomaly.yaml',
      [
        'anomaly:',
        '  rules:',
        '    network-change: { action: revoke }',
        '    request-rate: { enabled: false }',
      ].join('\n'),
    );
    const result = await check(file);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('network-change (revoke)');
    expect(result.stdout).toContain('user-agent-change (log)');
    expect(result.stdout).not.toContain('request-rate');
  });

  it('says where events go, by sink name and host, never a password in a sink URL', async () => {
    expect((await check(write('no-events.yaml', 'port: 8081'))).stdout).toContain('events: off');
    const file = write(
      'events.yaml',
      [
        'events:',
        '  sinks:',
        '    - { kind: rabbitmq, url: "amqp://admin:hunter2@127.0.0.1:5672" }',
        '    - { kind: nats, name: audit, url: "nats://127.0.0.1:4222" }',
      ].join('\n'),
    );
    const result = await check(file);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      'events: rabbitmq (rabbitmq at 127.0.0.1:5672), audit (nats at 127.0.0.1:4222)',
    );
    expect(result.stdout).not.toContain('hunter2');
  });

  it('refuses a bad anomaly rule by its field and exits 2', async () => {
    const file = write(
      'bad-anomaly.yaml',
      ['anomaly:', '  rules:', '    ip-change: {}', '    request-rate: { limit: -1 }'].join('\n'),
    );
    const result = await check(file);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('anomaly.rules: unknown rule "ip-change"');
    expect(result.stderr).toContain('anomaly.rules.request-rate.limit: must be an integer from 1');
  });

  it('names every bad field, with its environment variable, and exits 2', async () => {
    const file = write(
      'bad.yaml',
      [
        'port: 70000',
        'idleTimeout: soon',
        'routes:',
        '  - { prefix: api, upstream: ftp://x, extra: 1 }',
        'auth: { source: upstream }',
        'signingKey: "{\\"kty\\":\\"OKP\\"}"',
      ].join('\n'),
    );
    const result = await check(file);
    expect(result.code).toBe(2);
    for (const field of [
      'port (CLAWSESSION_PORT)',
      'idleTimeout (CLAWSESSION_IDLE_TIMEOUT)',
      'routes.0.prefix',
      'routes.0.upstream',
      'Unrecognized key: "extra"',
      'auth.url',
      'signingKey (CLAWSESSION_SIGNING_KEY): must be a private JWK',
    ]) {
      expect(result.stderr).toContain(field);
    }
  });

  it('checks the environment too, where objects are JSON', async () => {
    const file = write('empty.yaml', '');
    expect((await check(file, { CLAWSESSION_ROUTES: '[{"prefix":"/a/"}]' })).stderr).toContain(
      'routes.0.upstream',
    );
    expect((await check(file, { CLAWSESSION_ROUTES: '[oops' })).stderr).toContain(
      'CLAWSESSION_ROUTES must be JSON',
    );
    const duplicate = JSON.stringify([
      { prefix: '/a/', upstream: 'http://127.0.0.1:1' },
      { prefix: '/a/', upstream: 'http://127.0.0.1:2' },
    ]);
    expect((await check(file, { CLAWSESSION_ROUTES: duplicate })).stderr).toContain(
      'two routes have the same prefix',
    );
  });

  it('refuses a weak admin token, from the file or the environment, and accepts a generated one', async () => {
    const weak = await check(write('weak.yaml', 'adminToken: "1234567890123456"\n'));
    expect(weak.code).toBe(2);
    expect(weak.stderr).toMatch(/adminToken \(CLAWSESSION_ADMIN_TOKEN\): is too weak/);
    expect(weak.stderr).toContain('openssl rand -base64 32');
    const fromEnv = await check(write('env.yaml', ''), {
      CLAWSESSION_ADMIN_TOKEN: 'aaaaaaaaaaaaaaaaaaaaaaaa',
    });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toContain('is too weak');
    const strong = randomBytes(32).toString('base64url');
    const ok = await check(write('strong.yaml', `adminToken: "${strong}"\n`));
    expect(ok.code).toBe(0);
    expect(ok.stdout).not.toContain(strong);
  });

  it('refuses a missing file, an unreadable one and a wrong command line with exit 2', async () => {
    const missing = await check(join(dir, 'nope.yaml'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read config file');
    const broken = await check(write('broken.json', '{ "port": '));
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain('is not valid JSON');
    const usage = await promisify(execFile)(process.execPath, [BIN, 'config', 'lint']).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect(usage).toMatchObject({ code: 2, stderr: expect.stringContaining('config check') });
  });
});
