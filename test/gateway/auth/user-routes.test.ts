import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { registerUserAdminRoutes, UserDirectory } from '../../../src/gateway/auth/index.js';
import { applyApiDefaults } from '../../../src/gateway/fastify-defaults.js';
import { MemoryRecordStore } from '../../../src/stores/index.js';
import { TEST_HASHING } from './auth-app.js';

const PASSWORD = 'correct horse battery staple';
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function start() {
  const users = new UserDirectory({ store: new MemoryRecordStore(), hashing: TEST_HASHING });
  const app = Fastify({ bodyLimit: 16 * 1024 });
  applyApiDefaults(app);
  registerUserAdminRoutes(app, users);
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  closers.push(() => app.close());
  const call = async (method: string, path: string, body?: unknown, raw?: string) => {
    const payload = raw ?? (body === undefined ? undefined : JSON.stringify(body));
    const response = await fetch(`${url}${path}`, {
      method,
      headers: payload === undefined ? {} : { 'content-type': 'application/json' },
      body: payload,
    });
    const text = await response.text();
    // biome-ignore lint/suspicious/noExplicitAny: bodies are checked field by field
    return { status: response.status, json: (text ? JSON.parse(text) : undefined) as any };
  };
  return { users, call };
}

describe('the admin user routes', () => {
  it('adds a user (201, no hash in sight) who can then log in', async () => {
    const { users, call } = await start();
    const response = await call('POST', '/admin/users', {
      username: 'Alice',
      password: PASSWORD,
      roles: ['admin'],
    });
    expect(response.status).toBe(201);
    expect(response.json).toEqual({
      user: {
        id: 'alice',
        username: 'Alice',
        roles: ['admin'],
        createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        updatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      },
    });
    expect(await users.verify('alice', PASSWORD)).toMatchObject({ userId: 'alice' });

    const listed = await call('GET', '/admin/users');
    expect(listed.status).toBe(200);
    expect(listed.json.users).toEqual([response.json.user]);
    expect(JSON.stringify(listed.json)).not.toContain('scrypt');
  });

  it('refuses a name that is taken, in any case, with 409', async () => {
    const { call } = await start();
    await call('POST', '/admin/users', { username: 'alice', password: PASSWORD });
    const again = await call('POST', '/admin/users', { username: 'ALICE', password: PASSWORD });
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe('ERR_USER_EXISTS');
  });

  it.each([
    ['a weak password', { username: 'bob', password: 'short' }, 'ERR_PASSWORD_POLICY'],
    [
      'an over-long password',
      { username: 'bob', password: 'x'.repeat(1025) },
      'ERR_PASSWORD_POLICY',
    ],
    ['an unknown field', { username: 'bob', password: PASSWORD, admin: true }, 'ERR_VALIDATION'],
    ['a wrong type', { username: 'bob', password: PASSWORD, roles: 'admin' }, 'ERR_VALIDATION'],
    ['a malformed role', { username: 'bob', password: PASSWORD, roles: ['a b'] }, 'ERR_VALIDATION'],
    ['an empty username', { username: ' ', password: PASSWORD }, 'ERR_VALIDATION'],
  ])('refuses %s with 400 and adds nobody', async (_what, body, code) => {
    const { call } = await start();
    const response = await call('POST', '/admin/users', body);
    expect(response.status).toBe(400);
    expect(response.json.error.code).toBe(code);
    expect((await call('GET', '/admin/users')).json.users).toEqual([]);
  });

  it('refuses malformed JSON and a huge body with a JSON error', async () => {
    const { call } = await start();
    const malformed = await call('POST', '/admin/users', undefined, '{"username":');
    expect(malformed.status).toBe(400);
    expect(malformed.json.error.code).toBe('ERR_BODY_MALFORMED');
    const huge = await call('POST', '/admin/users', {
      username: 'bob',
      password: 'x'.repeat(32 * 1024),
    });
    expect(huge.status).toBe(413);
    expect(huge.json.error.code).toBe('ERR_BODY_TOO_LARGE');
  });

  it('deletes a user (204), then answers 404', async () => {
    const { users, call } = await start();
    await users.add({ username: 'José', password: PASSWORD });
    const removed = await call('DELETE', `/admin/users/${encodeURIComponent('JOSÉ')}`);
    expect(removed.status).toBe(204);
    expect(await users.verify('josé', PASSWORD)).toBeNull();
    const again = await call('DELETE', '/admin/users/jos%C3%A9');
    expect(again.status).toBe(404);
    expect(again.json.error.code).toBe('ERR_USER_NOT_FOUND');
  });
});
