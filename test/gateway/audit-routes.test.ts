import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { type Outbox, SessionManager, type SessionStore } from '../../src/core/index.js';
import { registerAuditRoutes } from '../../src/gateway/audit-routes.js';
import { applyApiDefaults } from '../../src/gateway/fastify-defaults.js';
import { serviceAuth } from '../../src/gateway/service-auth.js';
import { ApiKeys } from '../../src/keys/index.js';
import { MemoryRecordStore, MemoryStore } from '../../src/stores/index.js';

const T0 = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;
const ROOT = 'root-token-for-the-audit-routes-tests-0123456789';
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** The audit route as the server mounts it, behind `audit:read`, over a memory store with or without an outbox. */
async function start(options: { outbox: boolean }) {
  let now = T0;
  const clock = () => now;
  const store: SessionStore = new MemoryStore(options.outbox ? { outbox: { instance: 'gw' } } : {});
  const manager = new SessionManager({ store, clock });
  const keys = new ApiKeys({ records: new MemoryRecordStore(), clock });
  const app = Fastify();
  applyApiDefaults(app);
  app.addHook('onRequest', serviceAuth({ apiKeys: keys, rootToken: ROOT })('audit:read'));
  registerAuditRoutes(app, store.outbox as Outbox | undefined, clock);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  closers.push(
    () => app.close(),
    () => keys.close(),
    () => manager.close(),
  );
  const get = async (path: string, credential: string | null = ROOT) => {
    const response = await fetch(`${url}${path}`, {
      headers: credential ? { authorization: `Bearer ${credential}` } : {},
    });
    return { status: response.status, json: (await response.json()) as Record<string, any> };
  };
  return {
    manager,
    keys,
    get,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('GET /admin/audit', () => {
  it('pages through the events of a user, a session, some types and a time range, oldest first', async () => {
    const { manager, get, advance } = await start({ outbox: true });
    const alice = await manager.create({ userId: 'alice', data: { cart: [] } });
    advance(10 * MINUTE);
    await manager.patch(alice.token, [{ op: 'add', path: '/cart/-', value: 'sku-1' }]);
    const bob = await manager.create({ userId: 'bob' });
    advance(10 * MINUTE);
    await manager.revoke(alice.token, { cause: { actor: 'user', reason: 'logout' } });

    const byAlice = await get('/admin/audit?user=alice&limit=2');
    expect(byAlice.status).toBe(200);
    expect(byAlice.json.events.map((e: { type: string }) => e.type)).toEqual([
      'session.created',
      'session.updated',
    ]);
    expect(byAlice.json.events[0]).toMatchObject({
      specversion: '1.0',
      subject: alice.session.id,
      data: { userId: 'alice', sequence: 1, instance: 'gw' },
    });
    expect(byAlice.json.events[0]).not.toHaveProperty('payload');
    const rest = await get(`/admin/audit?user=alice&limit=2&cursor=${byAlice.json.cursor}`);
    expect(rest.json).toMatchObject({
      events: [{ type: 'session.revoked', data: { actor: 'user', reason: 'logout' } }],
      cursor: null,
    });
    // The revocation's time is the manager's clock, not the machine's.
    expect(rest.json.events[0].time).toBe(new Date(T0 + 20 * MINUTE).toISOString());

    const bobs = await get(`/admin/audit?session=${bob.session.id}`);
    expect(bobs.json.events.map((e: { subject: string }) => e.subject)).toEqual([bob.session.id]);
    const revoked = await get('/admin/audit?type=session.revoked,session.expired');
    expect(revoked.json.events).toHaveLength(1);
    // `since` as a duration back from now: the last five minutes hold only the revocation.
    const recent = await get('/admin/audit?since=5m');
    expect(recent.json.events.map((e: { type: string }) => e.type)).toEqual(['session.revoked']);
    const until = new Date(T0 + 5 * MINUTE).toISOString();
    const early = await get(`/admin/audit?until=${until}`);
    expect(early.json.events.map((e: { type: string }) => e.type)).toEqual(['session.created']);
  });

  it('refuses bad queries with a 400 naming the parameter', async () => {
    const { get } = await start({ outbox: true });
    for (const query of [
      'since=yesterday',
      'type=session.exploded',
      'session=not-an-id',
      'limit=0',
      'limit=501',
      'cursor=%27%3B%20DROP',
      'unknown=1',
    ]) {
      const reply = await get(`/admin/audit?${query}`);
      expect(reply.status, query).toBe(400);
      expect(reply.json.error.code, query).toBe('ERR_VALIDATION');
    }
  });

  it('needs audit:read: no credential is 401, a key without the scope 403', async () => {
    const { get, keys } = await start({ outbox: true });
    expect((await get('/admin/audit', null)).status).toBe(401);
    const { key } = await keys.create({ owner: 'ops', scopes: ['sessions:admin'] });
    const refused = await get('/admin/audit', key);
    expect(refused.status).toBe(403);
    expect(refused.json.error.code).toBe('ERR_API_KEY_SCOPE');
    const { key: auditor } = await keys.create({ owner: 'security', scopes: ['audit:read'] });
    expect((await get('/admin/audit', auditor)).status).toBe(200);
  });

  it('is 404 ERR_EVENTS_DISABLED when the store keeps no outbox', async () => {
    const { get } = await start({ outbox: false });
    const reply = await get('/admin/audit');
    expect(reply.status).toBe(404);
    expect(reply.json.error.code).toBe('ERR_EVENTS_DISABLED');
  });
});
