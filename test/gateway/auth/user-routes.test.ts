import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionManager } from '../../../src/core/index.js';
import {
  registerUserAdminRoutes,
  UserDirectory,
  UserLifecycle,
} from '../../../src/gateway/auth/index.js';
import { applyApiDefaults } from '../../../src/gateway/fastify-defaults.js';
import { grantedRoles, ROLES_DATA_KEY } from '../../../src/http/index.js';
import { MemoryRecordStore, MemoryStore } from '../../../src/stores/index.js';
import { TEST_HASHING } from './auth-app.js';

const PASSWORD = 'correct horse battery staple';
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function start() {
  const users = new UserDirectory({ store: new MemoryRecordStore(), hashing: TEST_HASHING });
  const manager = new SessionManager({ store: new MemoryStore() });
  const app = Fastify({ bodyLimit: 16 * 1024 });
  applyApiDefaults(app);
  registerUserAdminRoutes(app, users, new UserLifecycle({ users, manager }));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  closers.push(
    () => app.close(),
    () => manager.close(),
  );
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
  return { users, manager, call };
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

  it('ends every session of a deleted user', async () => {
    const { users, manager, call } = await start();
    await users.add({ username: 'alice', password: PASSWORD });
    await manager.create({ userId: 'alice' });
    await manager.create({ userId: 'alice' });
    const bob = await manager.create({ userId: 'bob' });
    expect((await call('DELETE', '/admin/users/Alice')).status).toBe(204);
    expect(await manager.listForUser('alice')).toEqual([]);
    expect(await manager.get(bob.token)).not.toBeNull();
  });

  it('sets roles (200) in the table and in every live session of the user', async () => {
    const { users, manager, call } = await start();
    await users.add({ username: 'alice', password: PASSWORD, roles: ['admin'] });
    const one = await manager.create({ userId: 'alice', data: { [ROLES_DATA_KEY]: ['admin'] } });
    const two = await manager.create({ userId: 'alice', data: { [ROLES_DATA_KEY]: ['admin'] } });
    const response = await call('PATCH', '/admin/users/ALICE', { roles: ['support', 'ops'] });
    expect(response.status).toBe(200);
    expect(response.json.user).toMatchObject({ id: 'alice', roles: ['support', 'ops'] });
    expect(await users.verify('alice', PASSWORD)).toMatchObject({ roles: ['support', 'ops'] });
    for (const { token } of [one, two]) {
      const session = await manager.get(token);
      expect(grantedRoles(session?.data ?? {})).toEqual(['support', 'ops']);
    }
  });

  it.each([
    ['an unknown user', '/admin/users/nobody', { roles: [] }, 404, 'ERR_USER_NOT_FOUND'],
    ['a malformed role', '/admin/users/alice', { roles: ['a b'] }, 400, 'ERR_VALIDATION'],
    ['no roles field', '/admin/users/alice', { role: ['x'] }, 400, 'ERR_VALIDATION'],
  ])('refuses to set roles for %s and changes nothing', async (_what, path, body, status, code) => {
    const { users, call } = await start();
    await users.add({ username: 'alice', password: PASSWORD, roles: ['admin'] });
    const response = await call('PATCH', path, body);
    expect(response.status).toBe(status);
    expect(response.json.error.code).toBe(code);
    expect(await users.verify('alice', PASSWORD)).toMatchObject({ roles: ['admin'] });
  });
});
