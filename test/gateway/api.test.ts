import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Client as pgClient } from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createGateway,
  type Gateway,
  type GatewayConfigInput,
  parseConfig,
} from '../../src/gateway/index.js';

const ADMIN = randomBytes(32).toString('base64url');
const running: Gateway[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((gateway) => gateway.close()));
});

async function start(overrides: GatewayConfigInput = {}) {
  const gateway = await createGateway(
    parseConfig({ port: 0, store: 'memory:', adminToken: ADMIN, logLevel: 'silent', ...overrides }),
  );
  running.push(gateway);
  const url = await gateway.listen();
  const call = async (
    method: string,
    path: string,
    options: {
      body?: unknown;
      raw?: string;
      headers?: Record<string, string>;
      auth?: string | null;
    } = {},
  ) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.auth !== null) headers.authorization = `Bearer ${options.auth ?? ADMIN}`;
    let body: string | undefined = options.raw;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(`${url}${path}`, { method, headers, body });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      json: text ? JSON.parse(text) : undefined,
    };
  };
  const create = async (body: Record<string, unknown> = { userId: 'alice' }) => {
    const response = await call('POST', '/v1/sessions', { body });
    expect(response.status).toBe(201);
    return response.json as {
      token: string;
      session: { id: string; version: number } & Record<string, unknown>;
    };
  };
  return { gateway, url, call, create };
}

describe('the /v1 session API', () => {
  it('creates a session whose id is the SHA-256 of the token shown once', async () => {
    const { call } = await start();
    const response = await call('POST', '/v1/sessions', {
      body: { userId: 'alice', data: { cart: [] }, ip: '198.51.100.7', userAgent: 'curl/8' },
    });
    expect(response.status).toBe(201);
    const { token, session } = response.json;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session.id).toBe(createHash('sha256').update(token).digest('hex'));
    expect(session).toMatchObject({
      userId: 'alice',
      data: { cart: [] },
      version: 1,
      ip: '198.51.100.7',
      userAgent: 'curl/8',
    });
    for (const field of ['createdAt', 'lastActiveAt', 'idleExpiresAt', 'absoluteExpiresAt']) {
      expect(new Date(session[field]).toISOString()).toBe(session[field]);
    }
    expect(response.headers.get('etag')).toBe('"1"');
    expect(response.headers.get('cache-control')).toBe('no-store');
    const fetched = await call('GET', `/v1/sessions/${session.id}`);
    expect(fetched.json.session).toEqual(session);
    expect(JSON.stringify(fetched.json)).not.toContain(token);
  });

  it('validates a token from the body, and 404s once it is revoked', async () => {
    const { call, create } = await start();
    const { token, session } = await create();
    const valid = await call('POST', '/v1/sessions/validate', { body: { token } });
    expect(valid.status).toBe(200);
    expect(valid.json.session.id).toBe(session.id);
    expect((await call('DELETE', `/v1/sessions/${session.id}`)).status).toBe(204);
    const revoked = await call('POST', '/v1/sessions/validate', { body: { token } });
    expect(revoked.status).toBe(404);
    expect(revoked.json.error.code).toBe('ERR_SESSION_NOT_FOUND');
    expect((await call('DELETE', `/v1/sessions/${session.id}`)).status).toBe(404);
    const unknown = await call('POST', '/v1/sessions/validate', {
      body: { token: 'A'.repeat(43) },
    });
    expect(unknown.status).toBe(404);
  });

  it('patches with JSON Patch and an ETag; a stale If-Match gets 412 and changes nothing', async () => {
    const { call, create } = await start();
    const { session } = await create({ userId: 'alice', data: { cart: { items: [], count: 0 } } });
    const ops = [
      { op: 'add', path: '/cart/items/-', value: 'sku-1' },
      { op: 'increment', path: '/cart/count', value: 1 },
    ];
    const patched = await call('PATCH', `/v1/sessions/${session.id}`, {
      raw: JSON.stringify(ops),
      headers: { 'content-type': 'application/json-patch+json', 'if-match': '"1"' },
    });
    expect(patched.status).toBe(200);
    expect(patched.headers.get('etag')).toBe('"2"');
    expect(patched.json.session.data).toEqual({ cart: { items: ['sku-1'], count: 1 } });

    const stale = await call('PATCH', `/v1/sessions/${session.id}`, {
      body: ops,
      headers: { 'if-match': '"1"' },
    });
    expect(stale.status).toBe(412);
    expect(stale.json.error.code).toBe('ERR_SESSION_VERSION_CONFLICT');
    const after = await call('GET', `/v1/sessions/${session.id}`);
    expect(after.json.session.version).toBe(2);
    expect(after.json.session.data).toEqual({ cart: { items: ['sku-1'], count: 1 } });

    const anyVersion = await call('PATCH', `/v1/sessions/${session.id}`, {
      body: ops,
      headers: { 'if-match': '*' },
    });
    expect(anyVersion.status).toBe(200);
  });

  it('If-Match follows RFC 9110: any unmatched tag is a 412, a list matches if one tag does, * needs a session', async () => {
    const { call, create } = await start();
    const { session } = await create({ userId: 'alice', data: { n: 0 } });
    const patch = (ifMatch: string, id = session.id) =>
      call('PATCH', `/v1/sessions/${id}`, {
        body: [{ op: 'increment', path: '/n', value: 1 }],
        headers: { 'if-match': ifMatch },
      });
    for (const unmatched of ['"stale-0"', 'W/"1"', '"01"', '""', '"2", "3"', 'W/"1", "x"']) {
      const refused = await patch(unmatched);
      expect([refused.status, refused.json.error.code], unmatched).toEqual([
        412,
        'ERR_SESSION_VERSION_CONFLICT',
      ]);
    }
    expect((await call('GET', `/v1/sessions/${session.id}`)).json.session).toMatchObject({
      version: 1,
      data: { n: 0 },
    });

    const listed = await patch('"7", W/"9", "1" , ,"x"');
    expect([listed.status, listed.headers.get('etag')]).toEqual([200, '"2"']);
    const any = await patch('*');
    expect([any.status, any.headers.get('etag')]).toEqual([200, '"3"']);

    const missing = 'f'.repeat(64);
    for (const condition of ['*', '"1"', '"1", "2"']) {
      const refused = await patch(condition, missing);
      expect([refused.status, refused.json.error.code], condition).toEqual([
        412,
        'ERR_SESSION_VERSION_CONFLICT',
      ]);
    }
    for (const malformed of ['1', '"1', 'W/1', '*, "1"', ',', '"a"b"']) {
      const refused = await patch(malformed);
      expect([refused.status, refused.json.error.code], malformed).toEqual([
        400,
        'ERR_PRECONDITION_MALFORMED',
      ]);
    }
  });

  it('a failed test op is a 409 and other patch errors are typed 4xx, all changing nothing', async () => {
    const { call, create } = await start({ maxDataBytes: 1024 });
    const { session } = await create({ userId: 'alice', data: { n: 1, list: [] } });
    const cases: [unknown, number, string][] = [
      [[{ op: 'test', path: '/n', value: 2 }], 409, 'ERR_PATCH_TEST_FAILED'],
      [[{ op: 'add', path: '/missing/deep', value: 1 }], 422, 'ERR_PATCH_TARGET'],
      [[{ op: 'add', path: '/__proto__/x', value: 1 }], 400, 'ERR_PATCH_FORBIDDEN_PATH'],
      [[{ op: 'nope', path: '/n' }], 400, 'ERR_PATCH_MALFORMED'],
      [{ op: 'add' }, 400, 'ERR_PATCH_MALFORMED'],
      [[{ op: 'add', path: '/big', value: 'x'.repeat(2000) }], 413, 'ERR_SESSION_DATA_TOO_LARGE'],
    ];
    for (const [body, status, code] of cases) {
      const response = await call('PATCH', `/v1/sessions/${session.id}`, { body });
      expect([response.status, response.json.error.code], JSON.stringify(body)).toEqual([
        status,
        code,
      ]);
    }
    const malformedIfMatch = await call('PATCH', `/v1/sessions/${session.id}`, {
      body: [{ op: 'replace', path: '/n', value: 5 }],
      headers: { 'if-match': '1' },
    });
    expect(malformedIfMatch.status).toBe(400);
    expect(malformedIfMatch.json.error.code).toBe('ERR_PRECONDITION_MALFORMED');
    const unchanged = await call('GET', `/v1/sessions/${session.id}`);
    expect(unchanged.json.session).toMatchObject({ version: 1, data: { n: 1, list: [] } });
  });

  it('regenerates: 201 with a new token, the old token dead at once', async () => {
    const { call, create } = await start();
    const { token, session } = await create({ userId: 'alice', data: { role: 'user' } });
    const regenerated = await call('POST', `/v1/sessions/${session.id}/regenerate`);
    expect(regenerated.status).toBe(201);
    expect(regenerated.json.token).not.toBe(token);
    expect(regenerated.json.session.data).toEqual({ role: 'user' });
    expect((await call('POST', '/v1/sessions/validate', { body: { token } })).status).toBe(404);
    expect(
      (await call('POST', '/v1/sessions/validate', { body: { token: regenerated.json.token } }))
        .status,
    ).toBe(200);
    expect((await call('GET', `/v1/sessions/${session.id}`)).status).toBe(404);
    expect((await call('POST', `/v1/sessions/${session.id}/regenerate`)).status).toBe(404);
  });

  it('lists and revokes a user’s sessions, optionally keeping one', async () => {
    const { call, create } = await start();
    const keep = await create({ userId: 'bob' });
    await create({ userId: 'bob' });
    await create({ userId: 'bob' });
    await create({ userId: 'carol' });
    const listed = await call('GET', '/v1/users/bob/sessions');
    expect(listed.status).toBe(200);
    expect(listed.json.sessions).toHaveLength(3);
    const revoked = await call('DELETE', `/v1/users/bob/sessions?except=${keep.session.id}`);
    expect(revoked.json).toEqual({ revoked: 2 });
    const remaining = await call('GET', '/v1/users/bob/sessions');
    expect(remaining.json.sessions.map((s: { id: string }) => s.id)).toEqual([keep.session.id]);
    expect((await call('GET', '/v1/users/carol/sessions')).json.sessions).toHaveLength(1);
    expect((await call('DELETE', '/v1/users/bob/sessions?except=nothex')).status).toBe(400);
  });

  it('refuses calls without the right bearer credential, comparing it in constant time', async () => {
    const { call } = await start();
    for (const auth of [null, 'wrong', `${ADMIN}x`, ADMIN.slice(0, -1)]) {
      const response = await call('GET', '/v1/users/bob/sessions', { auth });
      expect(response.status).toBe(401);
      expect(response.json.error.code).toBe('ERR_UNAUTHORIZED');
      expect(response.headers.get('www-authenticate')).toContain('Bearer');
    }
    const health = await call('GET', '/healthz', { auth: null });
    expect(health).toMatchObject({ status: 200, json: { status: 'ok' } });
  });

  it('refuses malformed JSON, wrong types, unknown fields, bad ids and huge bodies with JSON 4xx errors, writing nothing', async () => {
    const { call } = await start({ bodyLimit: 4096 });
    const cases: [string, string, Parameters<typeof call>[2], number, string][] = [
      [
        'POST',
        '/v1/sessions',
        { raw: '{"userId":', headers: { 'content-type': 'application/json' } },
        400,
        'ERR_BODY_MALFORMED',
      ],
      [
        'POST',
        '/v1/sessions',
        { raw: '', headers: { 'content-type': 'application/json' } },
        400,
        'ERR_BODY_MALFORMED',
      ],
      ['POST', '/v1/sessions', { body: { userId: 42 } }, 400, 'ERR_VALIDATION'],
      ['POST', '/v1/sessions', { body: { userId: '' } }, 400, 'ERR_VALIDATION'],
      ['POST', '/v1/sessions', { body: { userId: 'bob', admin: true } }, 400, 'ERR_VALIDATION'],
      ['POST', '/v1/sessions', { body: { userId: 'bob', data: [1] } }, 400, 'ERR_VALIDATION'],
      ['POST', '/v1/sessions', { body: { userId: 'bob', ip: 'nope' } }, 400, 'ERR_VALIDATION'],
      [
        'POST',
        '/v1/sessions',
        { body: { userId: 'bob', data: { big: 'x'.repeat(8000) } } },
        413,
        'ERR_BODY_TOO_LARGE',
      ],
      [
        'POST',
        '/v1/sessions',
        {
          raw: '{"userId":"bob","data":{"__proto__":{"admin":true}}}',
          headers: { 'content-type': 'application/json' },
        },
        400,
        'ERR_BODY_MALFORMED',
      ],
      [
        'POST',
        '/v1/sessions',
        { raw: 'userId=bob', headers: { 'content-type': 'text/plain' } },
        415,
        'ERR_UNSUPPORTED_MEDIA_TYPE',
      ],
      [
        'POST',
        '/v1/sessions/validate',
        { body: { token: 'short' } },
        400,
        'ERR_SESSION_TOKEN_INVALID',
      ],
      ['POST', '/v1/sessions/validate', { body: {} }, 400, 'ERR_VALIDATION'],
      ['GET', '/v1/sessions/not-a-hex-id', {}, 400, 'ERR_VALIDATION'],
      ['GET', `/v1/sessions/${'0'.repeat(64)}`, {}, 404, 'ERR_SESSION_NOT_FOUND'],
      [
        'PATCH',
        `/v1/sessions/${'0'.repeat(64)}`,
        { body: [{ op: 'add', path: '/a', value: 1 }] },
        404,
        'ERR_SESSION_NOT_FOUND',
      ],
      ['GET', '/v1/nothing-here', {}, 404, 'ERR_ROUTE_NOT_FOUND'],
    ];
    for (const [method, path, options, status, code] of cases) {
      const response = await call(method, path, options);
      expect(
        [response.status, response.json?.error?.code],
        `${method} ${path} ${JSON.stringify(options)}`,
      ).toEqual([status, code]);
      expect(typeof response.json.error.message).toBe('string');
    }
    expect((await call('GET', '/v1/users/bob/sessions')).json.sessions).toEqual([]);
  });

  it('keeps session data encrypted at rest when keys are configured', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'clawsession-gateway-'));
    try {
      const filename = join(dir, 'sessions.db');
      const key = randomBytes(32).toString('base64');
      const { call, create, gateway } = await start({
        store: `sqlite:${filename}`,
        encryptionKeys: `k1:${key}`,
      });
      const { token } = await create({ userId: 'alice', data: { secret: 'hunter2' } });
      const valid = await call('POST', '/v1/sessions/validate', { body: { token } });
      expect(valid.json.session.data).toEqual({ secret: 'hunter2' });
      await gateway.close();
      const db = new Database(filename, { readonly: true });
      const rows = db.prepare('SELECT data FROM sessions').all() as { data: Buffer }[];
      db.close();
      expect(rows).toHaveLength(1);
      expect(rows[0]?.data.includes('hunter2')).toBe(false);
      expect(rows[0]?.data.includes('k1')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serves the same API over PostgreSQL when the store URL says so', async () => {
    const base =
      process.env.CLAWSESSION_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
    const schema = `clawsession_gw_${randomBytes(4).toString('hex')}`;
    const { call, create, gateway } = await start({ store: `${base}?schema=${schema}` });
    try {
      const { token, session } = await create({ userId: 'pg-user', data: { cart: [] } });
      const patched = await call('PATCH', `/v1/sessions/${session.id}`, {
        body: [{ op: 'add', path: '/cart/-', value: 'x' }],
      });
      expect(patched.json.session.data).toEqual({ cart: ['x'] });
      expect((await call('POST', '/v1/sessions/validate', { body: { token } })).status).toBe(200);
    } finally {
      await gateway.close();
      const pg = new pgClient({ connectionString: base });
      await pg.connect();
      await pg.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await pg.end();
    }
  });
});
