import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway, loadConfig } from '../../src/gateway/index.js';
import { SigningKeys } from '../../src/tokens/index.js';
import { cli, runInProcess } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'clawsession-cli-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const PASSWORD = 'correct horse battery staple';

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** `clawsession …` in process; its stdout. */
async function run(args: string[], input = ''): Promise<string> {
  return (await runInProcess(args, input)).stdout;
}

describe('clawsession secrets generate', () => {
  it('prints a new Ed25519 signing key and refresh secret on each run, as a config file serve accepts', async () => {
    const [yamlRun, jsonRun] = await Promise.all([
      cli(['secrets', 'generate']),
      cli(['secrets', 'generate', '--json']),
    ]);
    expect(yamlRun).toMatchObject({ code: 0, stderr: '' });
    const files = [write('secrets.yaml', yamlRun.stdout), write('secrets.json', jsonRun.stdout)];
    const configs = files.map((file) => loadConfig({ file }));
    for (const [index, config] of configs.entries()) {
      expect(config.signingKey, files[index]).toMatchObject({
        kty: 'OKP',
        crv: 'Ed25519',
        d: expect.any(String),
      });
      expect((await SigningKeys.fromPrivateJwk(config.signingKey ?? {})).algorithm).toBe('EdDSA');
      expect(config.refreshSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
    const [first, second] = configs;
    expect(first?.signingKey?.d).not.toBe(second?.signingKey?.d);
    expect(first?.refreshSecret).not.toBe(second?.refreshSecret);

    const checks = await Promise.all(files.map((file) => cli(['config', 'check', file])));
    for (const check of checks) expect(check).toMatchObject({ code: 0, stderr: '' });
    // Each value on one line, so that it can be copied into an environment variable as it is.
    expect(yamlRun.stdout).toMatch(/^signingKey: '\{"[^\n]+\}'$/m);
    expect(yamlRun.stdout).toContain('CLAWSESSION_SIGNING_KEY and CLAWSESSION_REFRESH_SECRET');
  });

  it('makes gateways given the same secrets accept each other’s access tokens', async () => {
    const secrets = write('fleet.json', await run(['secrets', 'generate', '--json']));
    const store = `sqlite:${join(dir, 'fleet.db')}`;
    await run(['users', 'add', 'alice', '--password-stdin', '--store', store], PASSWORD);
    const gateways: Gateway[] = [];
    const start = async (file?: string) => {
      const gateway = await createGateway(
        loadConfig({ file, overrides: { store, port: 0, logLevel: 'silent' } }),
      );
      gateways.push(gateway);
      return gateway.listen();
    };
    try {
      const [a, b, stranger] = [await start(secrets), await start(secrets), await start()];
      const issued = await fetch(`${a}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'alice', password: PASSWORD }),
      });
      expect(issued.status).toBe(200);
      const { accessToken } = (await issued.json()) as { accessToken: string };
      const authorization = { authorization: `Bearer ${accessToken}` };

      const onB = await fetch(`${b}/auth/session`, { headers: authorization });
      expect(onB.status).toBe(200);
      expect(((await onB.json()) as { user: { id: string } }).user.id).toBe('alice');
      // A gateway with a key of its own refuses it: the shared key is what made B accept it.
      expect((await fetch(`${stranger}/auth/session`, { headers: authorization })).status).toBe(
        401,
      );
    } finally {
      for (const gateway of gateways) await gateway.close();
    }
  });
});
