import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { applyApiDefaults } from '../../src/gateway/fastify-defaults.js';
import { registerKeyRoutes } from '../../src/gateway/key-routes.js';
import { serviceAuth } from '../../src/gateway/service-auth.js';
import { ApiKeys } from '../../src/keys/index.js';
import { MemoryRecordStore } from '../../src/stores/index.js';

const T0 = Date.UTC(2026, 0, 1);
const ROOT = 'root-token-for-the-key-routes-tests-0123456789';
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/**
 * A real listening Fastify with the API's defaults and the key routes, as the
 * server would mount them; `call` authenticates as the root token unless given `credential`.
 */
async function start() {
  let now = T0;
  const keys = new ApiKeys({ records: new MemoryRecordStore(), clock: () => now });
  const app = Fastify({ bodyLimit: 16 * 1024 });
  applyApiDefaults(app);
  const requireScope = serviceAuth({ apiKeys: keys, rootToken: ROOT });
  app.addHook('onRequest', requireScope('keys:admin'));
  registerKeyRoutes(app, keys);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  closers.push(
    () => app.close(),
    () => keys.close(),
  );
  const call = async (
    method: string,
    path: string,
    options: { body?: unknown; raw?: string; contentType?: string; credential?: string } = {},
  ) => {
    const headers: Record<string, string> = {
      authorization: `Bearer ${options.credential ?? ROOT}`,
    };
    const body =
      options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
    if (body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
    const response = await fetch(`${url}${path}`, { method, headers, body });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      json: text ? JSON.parse(text) : undefined,
    };
  };
  return {
    keys,
    call,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('the /admin/keys API', () => {
  it('creates a key, shows it once, and lists and gets it without the secret', async () => {
    const { call, keys } = await start();
    const created = await call('POST', '/admin/keys', {
      body: {
        owner: 'billing',
        scopes: ['sessions:read', 'sessions:write'],
        expiresAt: '2026-02-01T00:00:00Z',
        rateLimit: { limit: 100, windowMs: '1m' },
        description: 'nightly export',
      },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('cache-control')).toBe('no-store');
    const { key, info } = created.json;
    expect(key).toMatch(/^cs_live_[0-9A-Za-z]{12}_[A-Za-z0-9_-]{43}$/);
    expect(info).toEqual({
      prefix: key.slice(8, 20),
      owner: 'billing',
      scopes: ['sessions:read', 'sessions:write'],
      description: 'nightly export',
      createdAt: '2026-01-01T00:00:00.000Z',
      expiresAt: '2026-02-01T00:00:00.000Z',
      rateLimit: { limit: 100, windowMs: 60_000 },
      rotatedAt: null,
      previousValidUntil: null,
      lastUsedAt: null,
      uses: 0,
    });
    expect((await keys.verify(key, 'sessions:write')).owner).toBe('billing');

    const listed = await call('GET', '/admin/keys');
    expect(listed).toMatchObject({ status: 200, json: { keys: [info] } });
    const got = await call('GET', `/admin/keys/${info.prefix}`);
    expect(got).toMatchObject({ status: 200, json: { info } });
    expect(JSON.stringify([listed.json, got.json])).not.toContain(key.slice(21));
  });

  it('rotates with a grace period and revokes', async () => {
    const { call, keys, advance } = await start();
    const { key: first, info } = (
      await call('POST', '/admin/keys', { body: { owner: 'billing', scopes: ['sessions:read'] } })
    ).json;
    const rotated = await call('POST', `/admin/keys/${info.prefix}/rotate`, {
      body: { grace: '10m' },
    });
    expect(rotated.status).toBe(200);
    expect(rotated.headers.get('cache-control')).toBe('no-store');
    expect(rotated.json.info).toMatchObject({
      prefix: info.prefix,
      rotatedAt: '2026-01-01T00:00:00.000Z',
      previousValidUntil: '2026-01-01T00:10:00.000Z',
    });
    await keys.verify(first);
    await keys.verify(rotated.json.key);
    advance(10 * 60_000);
    await expect(keys.verify(first)).rejects.toMatchObject({ reason: 'rotated-out' });

    const again = await call('POST', `/admin/keys/${info.prefix}/rotate`);
    expect(again.status).toBe(200);
    await expect(keys.verify(rotated.json.key)).rejects.toMatchObject({
      code: 'ERR_API_KEY_INVALID',
    });

    expect((await call('DELETE', `/admin/keys/${info.prefix}`)).status).toBe(204);
    await expect(keys.verify(again.json.key)).rejects.toMatchObject({
      code: 'ERR_API_KEY_INVALID',
    });
    for (const [method, path] of [
      ['DELETE', `/admin/keys/${info.prefix}`],
      ['GET', `/admin/keys/${info.prefix}`],
      ['POST', `/admin/keys/${info.prefix}/rotate`],
    ] as const) {
      const response = await call(method, path);
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(response.json.error.code).toBe('ERR_API_KEY_NOT_FOUND');
    }
  });

  it('answers bad input with a 4xx JSON error and writes nothing', async () => {
    const { call, keys } = await start();
    const valid = { owner: 'billing', scopes: ['sessions:read'] };
    const cases: [string, Parameters<typeof call>[2], number, string][] = [
      ['malformed JSON', { raw: '{"owner": "billing",' }, 400, 'ERR_BODY_MALFORMED'],
      ['empty JSON body', { raw: '' }, 400, 'ERR_BODY_MALFORMED'],
      ['a JSON array', { body: [valid] }, 400, 'ERR_VALIDATION'],
      ['an unknown field', { body: { ...valid, admin: true } }, 400, 'ERR_VALIDATION'],
      ['an owner of the wrong type', { body: { ...valid, owner: 5 } }, 400, 'ERR_VALIDATION'],
      [
        'scopes as a string',
        { body: { ...valid, scopes: 'sessions:read' } },
        400,
        'ERR_VALIDATION',
      ],
      ['no scopes', { body: { ...valid, scopes: [] } }, 400, 'ERR_VALIDATION'],
      ['an unknown scope', { body: { ...valid, scopes: ['root'] } }, 400, 'ERR_VALIDATION'],
      ['a control character', { body: { ...valid, owner: 'a\u0007b' } }, 400, 'ERR_VALIDATION'],
      [
        'an expiry in the past',
        { body: { ...valid, expiresAt: '2025-01-01T00:00:00Z' } },
        400,
        'ERR_VALIDATION',
      ],
      [
        'an expiry without offset',
        { body: { ...valid, expiresAt: '2027-01-01' } },
        400,
        'ERR_VALIDATION',
      ],
      [
        'a bad rate limit window',
        { body: { ...valid, rateLimit: { limit: 5, windowMs: 'soon' } } },
        400,
        'ERR_VALIDATION',
      ],
      [
        'a zero rate limit',
        { body: { ...valid, rateLimit: { limit: 0, windowMs: 1000 } } },
        400,
        'ERR_VALIDATION',
      ],
      [
        'a huge body',
        { body: { ...valid, description: 'x'.repeat(20_000) } },
        413,
        'ERR_BODY_TOO_LARGE',
      ],
      [
        'text/plain',
        { raw: JSON.stringify(valid), contentType: 'text/plain' },
        415,
        'ERR_UNSUPPORTED_MEDIA_TYPE',
      ],
    ];
    for (const [what, options, status, code] of cases) {
      const response = await call('POST', '/admin/keys', options);
      expect({ what, status: response.status, code: response.json?.error?.code }).toEqual({
        what,
        status,
        code,
      });
      expect(typeof response.json.error.message).toBe('string');
    }
    expect(await keys.list()).toEqual([]);
  });

  it('refuses a bad prefix or grace with 400 and leaves the key as it was', async () => {
    const { call, keys } = await start();
    const { key, info } = (
      await call('POST', '/admin/keys', { body: { owner: 'billing', scopes: ['sessions:read'] } })
    ).json;
    for (const [method, path] of [
      ['GET', '/admin/keys/short'],
      ['GET', '/admin/keys/has_under_sc'],
      ['DELETE', `/admin/keys/${info.prefix}x`],
      ['POST', '/admin/keys/%00%00%00%00%00%00%00%00%00%00%00%00/rotate'],
    ] as const) {
      const response = await call(method, path);
      expect(response.status, path).toBe(400);
      expect(response.json.error.code).toBe('ERR_VALIDATION');
    }
    for (const body of [{ grace: '-1m' }, { grace: 'soon' }, { grace: 1.5 }, { wait: 1 }, [1]]) {
      const response = await call('POST', `/admin/keys/${info.prefix}/rotate`, { body });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.json.error.code).toBe('ERR_VALIDATION');
    }
    expect((await keys.get(info.prefix))?.rotatedAt).toBeNull();
    await keys.verify(key);
  });

  it('lets a key mint or rotate only keys whose scopes it holds itself; the root token any', async () => {
    const { call, keys } = await start();
    const minter = (
      await call('POST', '/admin/keys', {
        body: { owner: 'provisioner', scopes: ['keys:admin', 'sessions:read'] },
      })
    ).json.key as string;
    const asMinter = { credential: minter };
    const escalate = await call('POST', '/admin/keys', {
      ...asMinter,
      body: { owner: 'evil', scopes: ['sessions:read', 'sessions:admin'] },
    });
    expect(escalate.status).toBe(403);
    expect(escalate.json.error.code).toBe('ERR_API_KEY_SCOPE');
    expect((await keys.list()).map((info) => info.owner)).toEqual(['provisioner']);

    const within = await call('POST', '/admin/keys', {
      ...asMinter,
      body: { owner: 'reader', scopes: ['sessions:read'] },
    });
    expect(within.status).toBe(201);

    const admin = await call('POST', '/admin/keys', {
      body: { owner: 'ops', scopes: ['sessions:admin'] },
    });
    expect(admin.status).toBe(201);
    const rotateAdmin = await call(
      'POST',
      `/admin/keys/${admin.json.info.prefix}/rotate`,
      asMinter,
    );
    expect(rotateAdmin.status).toBe(403);
    expect(rotateAdmin.json.key).toBeUndefined();
    expect((await keys.get(admin.json.info.prefix))?.rotatedAt).toBeNull();
    await keys.verify(admin.json.key, 'sessions:admin');

    const rotateReader = await call(
      'POST',
      `/admin/keys/${within.json.info.prefix}/rotate`,
      asMinter,
    );
    expect(rotateReader.status).toBe(200);
    expect((await call('POST', `/admin/keys/${admin.json.info.prefix}/rotate`)).status).toBe(200);
  });
});
