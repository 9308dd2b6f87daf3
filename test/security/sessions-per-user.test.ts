import { afterEach, describe, expect, it } from 'vitest';
import { type AttackTarget, signIn, startAttackTarget } from './support.js';

const running: AttackTarget[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((target) => target.close()));
});

async function start(maxSessionsPerUser: number) {
  // Every reading of the clock a millisecond later, so that no two sessions share a creation time.
  let now = Date.now();
  const target = await startAttackTarget({
    config: { maxSessionsPerUser, cookie: { insecureDevelopmentMode: true } },
    clock: () => ++now,
  });
  running.push(target);
  return target;
}

async function json(target: AttackTarget, path: string, init: RequestInit = {}) {
  const response = await fetch(`${target.url}${path}`, {
    ...init,
    headers: { 'content-type': 'application/json', ...init.headers },
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

/** Whether a cookie or bearer credential still reads its session. */
async function signedIn(target: AttackTarget, headers: Record<string, string>) {
  return (await json(target, '/auth/session', { headers })).status === 200;
}

describe('sessions per user are bounded on every path that creates one', () => {
  it('a cookie login, a token login and a /v1 create each evict the earliest session past the bound', async () => {
    const target = await start(2);
    const password = 'a long enough password for alice';
    const first = await signIn(target, 'alice', { password });
    const cookieOne = { cookie: first.cookie };
    const userId = (await json(target, '/auth/session', { headers: cookieOne })).body.user.id;

    const token = await json(target, '/auth/token', {
      method: 'POST',
      body: JSON.stringify({ username: 'alice', password }),
    });
    expect(token.status).toBe(200);
    const bearer = { authorization: `Bearer ${token.body.accessToken}` };
    expect(await signedIn(target, cookieOne)).toBe(true);
    expect(await signedIn(target, bearer)).toBe(true);

    const created = await json(target, '/v1/sessions', {
      method: 'POST',
      headers: { authorization: `Bearer ${target.adminToken}` },
      body: JSON.stringify({ userId }),
    });
    expect(created.status).toBe(201);
    expect(await signedIn(target, cookieOne)).toBe(false);
    expect(await signedIn(target, bearer)).toBe(true);

    const second = await signIn(target, 'alice', { password });
    expect(await signedIn(target, bearer)).toBe(false);
    expect(await signedIn(target, { cookie: second.cookie })).toBe(true);

    const listed = await json(target, `/v1/users/${encodeURIComponent(userId)}/sessions`, {
      headers: { authorization: `Bearer ${target.adminToken}` },
    });
    expect(listed.body.sessions.map((session: { id: string }) => session.id)).toEqual(
      expect.arrayContaining([created.body.session.id]),
    );
    expect(listed.body.sessions).toHaveLength(2);
  });

  it('the gateway tells of each eviction as a revoked event with reason evicted', async () => {
    const target = await start(1);
    const reasons: unknown[] = [];
    target.gateway.manager.on('revoked', (event) => reasons.push(event.reason));
    const password = 'a long enough password for bob';
    await signIn(target, 'bob', { password });
    await signIn(target, 'bob', { password });
    expect(reasons).toEqual(['evicted']);
  });
});
