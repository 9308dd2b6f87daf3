import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyIdentityContext } from '../../src/tokens/index.js';
import { type AttackTarget, signIn, startAttackTarget } from './support.js';

/**
 * Least privilege for services, attacked with real credentials: a key cannot
 * grant more than it holds, session data a service may write grants no role,
 * and knowing a refresh family's id does not let anyone end it.
 */

const PASSWORD = 'correct horse battery staple';
const targets: AttackTarget[] = [];
afterEach(async () => {
  for (const target of targets.splice(0)) await target.close();
});

async function start(): Promise<AttackTarget> {
  const target = await startAttackTarget({
    routes: (upstreams) => [
      { prefix: '/api/', upstream: upstreams.upstream?.url as string, auth: 'session' },
    ],
  });
  targets.push(target);
  return target;
}

interface Reply {
  status: number;
  json: { error?: { code: string } } & Record<string, unknown>;
}

async function call(
  target: AttackTarget,
  method: string,
  path: string,
  options: { credential?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const response = await fetch(`${target.url}${path}`, {
    method,
    headers: {
      ...(options.credential === undefined
        ? {}
        : { authorization: `Bearer ${options.credential}` }),
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : {} };
}

async function mintKey(target: AttackTarget, scopes: string[], credential = target.adminToken) {
  const reply = await call(target, 'POST', '/admin/keys', {
    credential,
    body: { owner: `svc-${randomBytes(4).toString('hex')}`, scopes },
  });
  return reply;
}

/** The roles the upstream is told for a proxied request with `headers`, verified against the JWKS. */
async function signedRoles(target: AttackTarget, headers: Record<string, string>) {
  const upstream = target.upstreams.upstream;
  const before = upstream?.hits.length ?? 0;
  expect((await call(target, 'GET', '/api/me', { headers })).status).toBe(200);
  const context = await verifyIdentityContext(
    upstream?.hits[before]?.headers['x-clawsession-context'] as string,
    {
      jwks: `${target.url}/.well-known/jwks.json`,
      issuer: 'clawsession',
      audience: 'clawsession-upstream',
    },
  );
  return context.roles;
}

describe('a sessions:write key cannot grant roles', () => {
  it('refuses every patch that reaches the reserved keys, and a plain roles key grants nothing', async () => {
    const target = await start();
    const { cookie } = await signIn(target, 'alice', { roles: ['viewer'], password: PASSWORD });
    const session = await call(target, 'GET', '/auth/session', { headers: { cookie } });
    const id = (session.json.session as { id: string }).id;
    const writer = (await mintKey(target, ['sessions:write', 'sessions:read'])).json.key as string;
    const roles = '/__clawsession_roles';
    await call(target, 'PATCH', `/v1/sessions/${id}`, {
      credential: writer,
      body: [{ op: 'add', path: '/stash', value: { __clawsession_roles: ['admin'] } }],
    });

    for (const op of [
      { op: 'add', path: roles, value: ['admin'] },
      { op: 'replace', path: roles, value: ['admin'] },
      { op: 'add', path: `${roles}/-`, value: 'admin' },
      { op: 'remove', path: roles },
      { op: 'move', from: '/stash/__clawsession_roles', path: roles },
      { op: 'copy', from: '/stash/__clawsession_roles', path: roles },
      { op: 'move', from: '/stash', path: '' },
      { op: 'copy', from: '/stash', path: '' },
      { op: 'copy', from: '', path: '/snapshot' },
      { op: 'replace', path: '', value: { __clawsession_roles: ['admin'] } },
      { op: 'replace', path: '', value: { roles: ['admin'] } },
      { op: 'add', path: '', value: {} },
      { op: 'test', path: '', value: {} },
      { op: 'test', path: roles, value: ['viewer'] },
      { op: 'add', path: '/__clawsession_csrf', value: 'chosen' },
      { op: 'add', path: '/__clawsession_other', value: 1 },
    ]) {
      const reply = await call(target, 'PATCH', `/v1/sessions/${id}`, {
        credential: writer,
        body: [{ op: 'add', path: '/harmless', value: 1 }, op],
      });
      expect({ op, status: reply.status, code: reply.json.error?.code }).toEqual({
        op,
        status: 400,
        code: 'ERR_PATCH_FORBIDDEN_PATH',
      });
    }
    const plain = await call(target, 'PATCH', `/v1/sessions/${id}`, {
      credential: writer,
      body: [{ op: 'add', path: '/roles', value: ['admin'] }],
    });
    expect(plain.status).toBe(200);
    expect(plain.json.session).toMatchObject({
      data: { roles: ['admin'], __clawsession_roles: ['viewer'] },
    });
    expect(plain.json.session).not.toHaveProperty('data.harmless');
    expect(await signedRoles(target, { cookie })).toEqual(['viewer']);
  });

  it('needs sessions:admin to create a session, and never with reserved keys in its data', async () => {
    const target = await start();
    const writer = (await mintKey(target, ['sessions:write'])).json.key as string;
    const create = (credential: string, data: Record<string, unknown>) =>
      call(target, 'POST', '/v1/sessions', { credential, body: { userId: 'alice', data } });

    const refused = await create(writer, {});
    expect(refused.status).toBe(403);
    expect(refused.json.error?.code).toBe('ERR_API_KEY_SCOPE');

    const signer = (await mintKey(target, ['sessions:admin'])).json.key as string;
    const reserved = await create(signer, { __clawsession_roles: ['admin'] });
    expect(reserved.status).toBe(400);
    expect(reserved.json.error?.code).toBe('ERR_PATCH_FORBIDDEN_PATH');

    const created = await create(signer, { roles: ['admin'] });
    expect(created.status).toBe(201);
    const cookie = `__Host-cs_session=${created.json.token as string}`;
    expect(await signedRoles(target, { cookie })).toEqual([]);
  });
});

describe('a keys:admin key grants only what it holds', () => {
  it('cannot mint or rotate into a scope it lacks; the root token can', async () => {
    const target = await start();
    const keysAdmin = (await mintKey(target, ['keys:admin'])).json.key as string;

    const minted = await mintKey(target, ['sessions:admin'], keysAdmin);
    expect(minted.status).toBe(403);
    expect(minted.json.error?.code).toBe('ERR_API_KEY_SCOPE');
    expect(minted.json).not.toHaveProperty('key');
    const mixed = await mintKey(target, ['keys:admin', 'sessions:read'], keysAdmin);
    expect(mixed.status).toBe(403);

    const powerful = await mintKey(target, ['sessions:admin']);
    expect(powerful.status).toBe(201);
    const prefix = (powerful.json.info as { prefix: string }).prefix;
    const rotated = await call(target, 'POST', `/admin/keys/${prefix}/rotate`, {
      credential: keysAdmin,
    });
    expect(rotated.status).toBe(403);
    expect(rotated.json).not.toHaveProperty('key');
    // The powerful key still works: the refused rotation changed nothing.
    const used = await call(target, 'DELETE', '/v1/users/nobody/sessions', {
      credential: powerful.json.key as string,
    });
    expect(used.status).toBe(200);

    expect((await mintKey(target, ['keys:admin'], keysAdmin)).status).toBe(201);
    const byRoot = await call(target, 'POST', `/admin/keys/${prefix}/rotate`, {
      credential: target.adminToken,
    });
    expect(byRoot.status).toBe(200);
  });
});

describe('a refresh family survives anyone who only knows its id', () => {
  async function tokens(target: AttackTarget) {
    await signIn(target, 'alice', { password: PASSWORD });
    const issued = await call(target, 'POST', '/auth/token', {
      body: { username: 'alice', password: PASSWORD },
    });
    expect(issued.status).toBe(200);
    return issued.json as { accessToken: string; refreshToken: string };
  }
  const refresh = (target: AttackTarget, refreshToken: string) =>
    call(target, 'POST', '/auth/refresh', { body: { refreshToken } });

  it('refuses a forged secret as invalid, and the family and session live on', async () => {
    const target = await start();
    const { accessToken, refreshToken } = await tokens(target);
    const familyId = refreshToken.split('.')[0] as string;
    for (let attempt = 0; attempt < 5; attempt++) {
      const forged = await refresh(target, `${familyId}.${randomBytes(32).toString('base64url')}`);
      expect(forged.status).toBe(401);
      expect(forged.json.error?.code).toBe('ERR_REFRESH_TOKEN_INVALID');
    }
    const bearer = { authorization: `Bearer ${accessToken}` };
    expect((await call(target, 'GET', '/auth/session', { headers: bearer })).status).toBe(200);
    expect((await refresh(target, refreshToken)).status).toBe(200);
  });

  it('still revokes family and session on genuine reuse of a rotated secret', async () => {
    const target = await start();
    const { accessToken, refreshToken } = await tokens(target);
    const second = (await refresh(target, refreshToken)).json.refreshToken as string;
    const third = (await refresh(target, second)).json.refreshToken as string;
    const reused = await refresh(target, refreshToken);
    expect(reused.status).toBe(401);
    expect(reused.json.error?.code).toBe('ERR_REFRESH_TOKEN_REUSED');
    expect((await refresh(target, third)).status).toBe(401);
    const bearer = { authorization: `Bearer ${accessToken}` };
    expect((await call(target, 'GET', '/auth/session', { headers: bearer })).status).toBe(401);
  });
});
