import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayConfigInput } from '../../src/gateway/index.js';
import {
  type AttackTarget,
  addUser,
  rawRequest,
  requestText,
  startAttackTarget,
} from './support.js';

const PASSWORD = 'the right password for alice';
const FORGED = 'X-Forwarded-For: 1.2.3.4, 5.6.7.8';

const running: AttackTarget[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((target) => target.close()));
});

async function start(config: GatewayConfigInput) {
  const target = await startAttackTarget({
    config: { cookie: { insecureDevelopmentMode: true }, ...config },
  });
  running.push(target);
  await addUser(target, 'alice', PASSWORD);
  return target;
}

/** A raw login carrying `headers` (e.g. an X-Forwarded-For line). */
function login(target: AttackTarget, headers: string[], password = PASSWORD) {
  return rawRequest(
    target.port,
    requestText('/auth/login', ['Content-Type: application/json', ...headers], {
      method: 'POST',
      body: JSON.stringify({ username: 'alice', password }),
    }),
  );
}

/** The address the gateway recorded for a session started by a login with `headers`. */
async function sessionIp(target: AttackTarget, headers: string[]): Promise<string> {
  const response = await login(target, headers);
  expect(response.status).toBe(200);
  const cookie = (response.headers['set-cookie']?.[0] ?? '').split(';')[0] ?? '';
  const listed = await fetch(`${target.url}/auth/sessions`, { headers: { cookie } });
  const { sessions } = (await listed.json()) as { sessions: { ip: string; current: boolean }[] };
  const current = sessions.find((session) => session.current);
  return current?.ip ?? '';
}

describe('the client address behind proxies', () => {
  it('with trustProxy true, a session records the right-most X-Forwarded-For entry, not the forged left-most', async () => {
    const target = await start({ trustProxy: true });
    expect(await sessionIp(target, [FORGED])).toBe('5.6.7.8');
    expect(await sessionIp(target, ['X-Forwarded-For: 5.6.7.8'])).toBe('5.6.7.8');
  });

  it('with trustProxy true, the per-address login limit charges the right-most entry whatever is forged before it', async () => {
    const target = await start({
      trustProxy: true,
      rateLimits: { loginPerIp: { limit: 1, window: '15m' } },
    });
    expect((await login(target, [FORGED], 'wrong')).status).toBe(401);
    const forgedAgain = await login(target, ['X-Forwarded-For: 9.9.9.9, 5.6.7.8'], 'wrong');
    expect(forgedAgain.status).toBe(429);
    expect(forgedAgain.json).toMatchObject({ error: { code: 'ERR_RATE_LIMITED' } });
    expect((await login(target, ['X-Forwarded-For: 1.2.3.4, 7.7.7.7'], 'wrong')).status).toBe(401);
  });

  it('with trustProxy false, X-Forwarded-For is ignored for sessions and limits', async () => {
    const target = await start({
      trustProxy: false,
      rateLimits: { loginPerIp: { limit: 1, window: '15m' } },
    });
    expect(await sessionIp(target, [FORGED])).toBe('127.0.0.1');
    expect((await login(target, ['X-Forwarded-For: 1.1.1.1'], 'wrong')).status).toBe(401);
    expect((await login(target, ['X-Forwarded-For: 2.2.2.2'], 'wrong')).status).toBe(429);
  });

  it('a hop count trusts that many proxies from the right', async () => {
    const target = await start({ trustProxy: 2 });
    expect(await sessionIp(target, ['X-Forwarded-For: 6.6.6.6, 1.2.3.4, 5.6.7.8'])).toBe('1.2.3.4');
  });

  it('a list of proxy addresses skips exactly the listed hops from the right', async () => {
    const peerOnly = await start({ trustProxy: '127.0.0.1' });
    expect(await sessionIp(peerOnly, [FORGED])).toBe('5.6.7.8');
    const twoProxies = await start({ trustProxy: '127.0.0.1, 5.6.7.0/24' });
    expect(await sessionIp(twoProxies, [FORGED])).toBe('1.2.3.4');
  });

  it('warns at start that true trusts any peer as a proxy, and not for a list', async () => {
    const trusting = await start({ trustProxy: true });
    expect(trusting.gateway.warnings).toEqual(
      expect.arrayContaining([expect.stringMatching(/trustProxy is true: .*list the proxies/)]),
    );
    const listed = await start({ trustProxy: '127.0.0.1' });
    expect(listed.gateway.warnings.some((warning) => warning.includes('trustProxy'))).toBe(false);
  });
});
