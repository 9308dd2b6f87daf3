import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createGateway, type Gateway, parseConfig } from '../../src/gateway/index.js';
import { solveProofOfWork } from '../security/support.js';
import { dropKeys, REDIS_URL } from '../stores/fixtures/redis.js';

const POSTGRES_URL =
  process.env.CLAWSESSION_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const run = randomBytes(4).toString('hex');
const prefix = `cs:test:lockout-${run}:`;
const schema = `clawsession_lockout_${run}`;

afterAll(async () => {
  await dropKeys(REDIS_URL, prefix);
  const admin = new Pool({ connectionString: POSTGRES_URL });
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

const ROOT = 'shared-lockout-root-token-0123456789';
const PASSWORD = 'alice has a long passphrase';

const stores: [string, string][] = [
  ['Redis', `${REDIS_URL}?prefix=${prefix}`],
  ['PostgreSQL', `${POSTGRES_URL}?schema=${schema}`],
];

describe.each(stores)('lockout limits of two gateways on one %s store', (_name, store) => {
  it('share the per-address, per-account ceiling and answered-challenge counts', async () => {
    const config = parseConfig({
      port: 0,
      store,
      adminToken: ROOT,
      logLevel: 'silent',
      trustProxy: '127.0.0.1',
      refreshSecret: randomBytes(32).toString('base64url'),
      rateLimits: {
        loginPerAccountAddress: { limit: 2, window: '15m' },
        loginPerAccount: { limit: 3, window: '15m' },
        loginProofOfWork: { difficulty: 6 },
      },
    });
    const gateways: Gateway[] = [await createGateway(config), await createGateway(config)];
    try {
      const [a, b] = await Promise.all(gateways.map((gateway) => gateway.listen()));
      const username = `alice-${randomBytes(4).toString('hex')}`;
      const added = await fetch(`${a}/admin/users`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ROOT}`, 'content-type': 'application/json' },
        body: JSON.stringify({ username, password: PASSWORD }),
      });
      expect(added.status).toBe(201);
      const login = async (url: string | undefined, from: string, body: object) => {
        const response = await fetch(`${url}/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-forwarded-for': from },
          body: JSON.stringify({ username, ...body }),
        });
        // biome-ignore lint/suspicious/noExplicitAny: error bodies are checked field by field
        return { status: response.status, json: (await response.json()) as any };
      };
      const wrong = { password: 'password123' };

      // Per account and address: one failure on each gateway uses the pair's limit of 2.
      expect((await login(a, '203.0.113.1', wrong)).status).toBe(401);
      expect((await login(b, '203.0.113.1', wrong)).status).toBe(401);
      const refused = await login(a, '203.0.113.1', wrong);
      expect(refused.json.error.code).toBe('ERR_RATE_LIMITED');

      // The ceiling of 3 failures per account: the third comes through B.
      expect((await login(b, '203.0.113.2', wrong)).status).toBe(401);
      const asked = await login(a, '198.51.100.7', { password: PASSWORD });
      expect(asked.json.error.code).toBe('ERR_PROOF_OF_WORK_REQUIRED');

      // A challenge from A is honoured once, on B, and is spent on A too.
      const proofOfWork = solveProofOfWork(asked.json.error.details.proofOfWork);
      const onB = await login(b, '198.51.100.7', { password: PASSWORD, proofOfWork });
      expect(onB.status).toBe(200);
      const replayed = await login(a, '198.51.100.7', { password: PASSWORD, proofOfWork });
      expect(replayed.json.error.code).toBe('ERR_PROOF_OF_WORK_REQUIRED');
      expect(replayed.json.error.message).toContain('reused');
    } finally {
      await Promise.all(gateways.map((gateway) => gateway.close()));
    }
  });
});
