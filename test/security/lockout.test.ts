import { afterEach, describe, expect, it } from 'vitest';
import { type AttackTarget, addUser, solveProofOfWork, startAttackTarget } from './support.js';

/**
 * Lockout must stop a guesser without locking the owner out. The gateway
 * trusts its loopback peer as a proxy, so each request chooses its client
 * address with X-Forwarded-For, as the clients behind a real proxy would.
 */
const PASSWORD = 'alice has a long passphrase';
const OWNER = '198.51.100.7';
const DIFFICULTY = 8;

const targets: AttackTarget[] = [];
afterEach(async () => {
  await Promise.all(targets.splice(0).map((target) => target.close()));
});

async function start() {
  const target = await startAttackTarget({
    config: {
      trustProxy: '127.0.0.1',
      rateLimits: { loginProofOfWork: { difficulty: DIFFICULTY } },
    },
  });
  targets.push(target);
  await addUser(target, 'alice', PASSWORD);
  return target;
}

async function post(
  target: AttackTarget,
  path: string,
  from: string,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${target.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': from, ...headers },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    headers: response.headers,
    // biome-ignore lint/suspicious/noExplicitAny: error bodies are checked field by field
    json: (await response.json()) as any,
  };
}

const guess = (target: AttackTarget, from: string, username = 'alice') =>
  post(target, '/auth/login', from, { username, password: 'password123' });

describe('account lockout', () => {
  it('an attacker flooding alice from many addresses is refused per address, and alice still signs in from hers', async () => {
    const target = await start();
    const attackers = Array.from({ length: 6 }, (_, i) => `203.0.113.${i + 10}`);
    for (const attacker of attackers) {
      for (let i = 0; i < 5; i++)
        expect([401, 429]).toContain((await guess(target, attacker)).status);
      const refused = await guess(target, attacker);
      expect(refused.status).toBe(429);
      expect(['ERR_RATE_LIMITED', 'ERR_PROOF_OF_WORK_REQUIRED']).toContain(refused.json.error.code);
    }
    // 30 failures went past the ceiling of 20: the attacker's own address is simply refused…
    const attackerAgain = await guess(target, attackers[0] as string);
    expect(attackerAgain.json.error.code).toBe('ERR_RATE_LIMITED');
    expect(Number(attackerAgain.headers.get('retry-after'))).toBeGreaterThan(0);

    // …while alice is asked for a small proof of work, and gets in with it.
    const asked = await post(target, '/auth/login', OWNER, {
      username: 'alice',
      password: PASSWORD,
    });
    expect(asked.status).toBe(429);
    expect(asked.json.error.code).toBe('ERR_PROOF_OF_WORK_REQUIRED');
    const offered = asked.json.error.details.proofOfWork;
    expect(offered).toMatchObject({ algorithm: 'sha256', difficulty: DIFFICULTY });
    const proofOfWork = solveProofOfWork(offered);
    const signedIn = await post(target, '/auth/login', OWNER, {
      username: 'alice',
      password: PASSWORD,
      proofOfWork,
    });
    expect(signedIn.status).toBe(200);
    expect(signedIn.json.user.id).toBe('alice');

    // A solution opens one attempt only, and not for an attacker on another account's challenge.
    const replayed = await post(target, '/auth/token', attackers[5] as string, {
      username: 'alice',
      password: 'password123',
      proofOfWork,
    });
    expect(replayed.status).toBe(429);
  });

  it('a fresh attacker address past the ceiling must pay a proof of work for every guess', async () => {
    const target = await start();
    for (let n = 0; n < 4; n++) {
      for (let i = 0; i < 5; i++) await guess(target, `203.0.113.${n + 50}`);
    }
    const fresh = '192.0.2.200';
    const asked = await guess(target, fresh);
    expect(asked.json.error.code).toBe('ERR_PROOF_OF_WORK_REQUIRED');
    const paid = await post(target, '/auth/login', fresh, {
      username: 'alice',
      password: 'password123',
      proofOfWork: solveProofOfWork(asked.json.error.details.proofOfWork),
    });
    expect(paid.status).toBe(401);
    expect((await guess(target, fresh)).json.error.code).toBe('ERR_PROOF_OF_WORK_REQUIRED');
  });

  it('every spelling of a username is one account and one counter', async () => {
    const target = await start();
    const from = '203.0.113.77';
    for (const username of ['ALICE', 'Ａｌｉｃｅ', 'ＡＬＩＣＥ', ' alice ', 'Alice']) {
      expect((await guess(target, from, username)).status).toBe(401);
    }
    const refused = await post(target, '/auth/login', from, {
      username: 'alice',
      password: PASSWORD,
    });
    expect(refused.status).toBe(429);
    expect(refused.json.error.code).toBe('ERR_RATE_LIMITED');
    const fullwidth = await post(target, '/auth/login', OWNER, {
      username: 'Ａｌｉｃｅ',
      password: PASSWORD,
    });
    expect(fullwidth.status).toBe(200);
    expect(fullwidth.json.user.id).toBe('alice');
  });

  it('counts an IPv6 client by its /64', async () => {
    const target = await start();
    for (const from of [
      '2001:db8:1:2::1',
      '2001:db8:1:2::ffff',
      '2001:db8:1:2::1',
      '2001:db8:1:2:abcd::9',
      '2001:DB8:1:2::2',
    ]) {
      expect((await guess(target, from)).status).toBe(401);
    }
    expect((await guess(target, '2001:db8:1:2::3')).json.error.code).toBe('ERR_RATE_LIMITED');
    expect((await guess(target, '2001:db8:1:3::1')).status).toBe(401);
  });
});

describe('service credential brute force', () => {
  it('is refused per address with 429 before the credential is checked; successes cost nothing', async () => {
    const target = await start();
    const attacker = '203.0.113.99';
    const read = (from: string, token: string) =>
      fetch(`${target.url}/admin/users`, {
        headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': from },
      });
    for (let i = 0; i < 30; i++)
      expect((await read('198.51.100.50', target.adminToken)).status).toBe(200);
    for (let i = 0; i < 20; i++) {
      const token = i % 2 === 0 ? `guess-${i}-0123456789abcdef` : `cs_live_guess${i}`;
      expect((await read(attacker, token)).status).toBe(401);
    }
    const refused = await read(attacker, target.adminToken);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await refused.json()).toMatchObject({ error: { code: 'ERR_RATE_LIMITED' } });
    // Same /64 for IPv6, a different /64 is another client.
    expect((await read('2001:db8:9:9::1', 'wrong-0123456789abcdef')).status).toBe(401);
    expect((await read('198.51.100.50', target.adminToken)).status).toBe(200);

    const metrics = await (
      await fetch(`${target.url}/metrics`, {
        headers: { authorization: `Bearer ${target.adminToken}` },
      })
    ).text();
    expect(metrics).toMatch(
      /clawsession_rate_limit_rejections_total\{limiter="service-auth-ip"\} 1\b/,
    );
  });
});
