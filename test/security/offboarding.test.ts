import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import type { GatewayConfigInput } from '../../src/gateway/index.js';
import { verifyIdentityContext } from '../../src/tokens/index.js';
import { dropKeys, freshPrefix, REDIS_URL } from '../stores/fixtures/redis.js';
import { type AttackTarget, signIn, startAttackTarget } from './support.js';

/**
 * Offboarding, attacked from the user's side: whatever credential alice holds
 * (cookie, access token, refresh token), removing her ends it at once, by the
 * CLI or the admin API, on every gateway sharing the store; new roles reach
 * the very next identity context.
 */

const dir = mkdtempSync(join(tmpdir(), 'clawsession-offboarding-'));
const PASSWORD = 'correct horse battery staple';
const targets: AttackTarget[] = [];
const redisPrefixes: string[] = [];
afterEach(async () => {
  for (const target of targets.splice(0)) await target.close();
  for (const prefix of redisPrefixes.splice(0)) await dropKeys(REDIS_URL, prefix);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sqliteStore(): string {
  return `sqlite:${join(dir, `${randomBytes(8).toString('hex')}.db`)}`;
}

function redisStore(): string {
  const prefix = freshPrefix();
  redisPrefixes.push(prefix);
  return `${REDIS_URL}?prefix=${prefix}`;
}

async function start(config: GatewayConfigInput): Promise<AttackTarget> {
  const target = await startAttackTarget({
    routes: (upstreams) => [
      { prefix: '/api/', upstream: upstreams.upstream?.url as string, auth: 'session' },
    ],
    config,
  });
  targets.push(target);
  return target;
}

/** Two gateways on one store, with the keys that let each verify the other's tokens. */
async function startPair(store: string): Promise<[AttackTarget, AttackTarget]> {
  const { privateKey } = await generateKeyPair('EdDSA', { extractable: true });
  const shared = {
    store,
    signingKey: JSON.stringify(await exportJWK(privateKey)),
    refreshSecret: randomBytes(32).toString('base64url'),
  };
  return [await start(shared), await start(shared)];
}

/** `clawsession users …` as the command runs it, against `store`; its JSON output lines. */
async function cli(args: string[], store: string): Promise<unknown[]> {
  const out: string[] = [];
  await runCli(['users', ...args, '--store', store, '--json'], {
    stdin: Readable.from(['']),
    stdout: new Writable({
      write(chunk, _encoding, done) {
        out.push(String(chunk));
        done();
      },
    }),
    stderr: new Writable({ write: (_chunk, _encoding, done) => done() }),
  });
  return out
    .join('')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

interface Credentials {
  cookie: string;
  accessToken: string;
  refreshToken: string;
}

/** Alice, added on `target` with `roles`, signed in by cookie and by token. */
async function aliceOn(target: AttackTarget, roles: string[]): Promise<Credentials> {
  const { cookie } = await signIn(target, 'alice', { roles, password: PASSWORD });
  const tokens = await post(target, '/auth/token', { username: 'alice', password: PASSWORD });
  expect(tokens.status).toBe(200);
  const { accessToken, refreshToken } = tokens.json as Record<string, string>;
  return { cookie, accessToken: accessToken as string, refreshToken: refreshToken as string };
}

async function post(target: AttackTarget, path: string, body: unknown) {
  const response = await fetch(`${target.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

async function admin(target: AttackTarget, method: string, path: string, body?: unknown) {
  const response = await fetch(`${target.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${target.adminToken}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return response.status;
}

async function get(target: AttackTarget, path: string, headers: Record<string, string>) {
  const response = await fetch(`${target.url}${path}`, { headers });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

/** The roles of the identity context the upstream got for a proxied request, verified against the JWKS. */
async function rolesUpstreamSees(
  target: AttackTarget,
  headers: Record<string, string>,
): Promise<string[]> {
  const upstream = target.upstreams.upstream;
  const before = upstream?.hits.length ?? 0;
  const response = await get(target, '/api/whoami', headers);
  expect(response.status).toBe(200);
  const hit = upstream?.hits[before];
  const context = await verifyIdentityContext(hit?.headers['x-clawsession-context'] as string, {
    jwks: `${target.url}/.well-known/jwks.json`,
    issuer: 'clawsession',
    audience: 'clawsession-upstream',
  });
  expect(context.userId).toBe('alice');
  return context.roles;
}

/** Every credential alice holds works on `target` (the refresh token is rotated: the returned set is current). */
async function expectAllAccepted(target: AttackTarget, alice: Credentials): Promise<Credentials> {
  expect((await get(target, '/auth/session', { cookie: alice.cookie })).status).toBe(200);
  await rolesUpstreamSees(target, { cookie: alice.cookie });
  await rolesUpstreamSees(target, { authorization: `Bearer ${alice.accessToken}` });
  const refreshed = await post(target, '/auth/refresh', { refreshToken: alice.refreshToken });
  expect(refreshed.status).toBe(200);
  return { ...alice, refreshToken: refreshed.json.refreshToken as string };
}

/** Every credential alice holds is refused on `target`, and nothing reaches the upstream. */
async function expectAllRefused(target: AttackTarget, alice: Credentials): Promise<void> {
  const upstream = target.upstreams.upstream;
  const hits = upstream?.hits.length;
  const bearer = { authorization: `Bearer ${alice.accessToken}` };
  for (const [what, path, headers] of [
    ['cookie', '/auth/session', { cookie: alice.cookie }],
    ['cookie', '/api/orders', { cookie: alice.cookie }],
    ['access token', '/auth/session', bearer],
    ['access token', '/api/orders', bearer],
  ] as const) {
    const response = await get(target, path, headers);
    expect({ what, path, status: response.status }).toEqual({ what, path, status: 401 });
  }
  expect(upstream?.hits.length).toBe(hits);
  const refreshed = await post(target, '/auth/refresh', { refreshToken: alice.refreshToken });
  expect(refreshed.status).toBe(401);
  expect((refreshed.json.error as { code: string }).code).toBe('ERR_REFRESH_TOKEN_INVALID');
}

describe('removing a user ends every credential of theirs at once', () => {
  it('by the CLI, on the store the gateway runs on', async () => {
    const store = sqliteStore();
    const target = await start({ store });
    const alice = await expectAllAccepted(target, await aliceOn(target, ['buyer']));
    const other = await expectAllAccepted(target, await aliceOn(target, ['buyer']));
    expect(await cli(['remove', 'Alice'], store)).toEqual([{ removed: 'Alice', sessionsEnded: 4 }]);
    await expectAllRefused(target, alice);
    await expectAllRefused(target, other);
    const login = await post(target, '/auth/login', { username: 'alice', password: PASSWORD });
    expect(login.status).toBe(401);
  });

  it('by the admin API', async () => {
    const target = await start({ store: sqliteStore() });
    const alice = await expectAllAccepted(target, await aliceOn(target, ['buyer']));
    expect(await admin(target, 'DELETE', '/admin/users/alice')).toBe(204);
    await expectAllRefused(target, alice);
  });

  it('on every gateway sharing the store: removed on B, refused on A', async () => {
    const [a, b] = await startPair(redisStore());
    const alice = await expectAllAccepted(a, await aliceOn(a, ['buyer']));
    expect(await admin(b, 'DELETE', '/admin/users/alice')).toBe(204);
    await expectAllRefused(a, alice);
    await expectAllRefused(b, alice);
  });
});

describe('new roles reach the next identity context', () => {
  it('set by the CLI', async () => {
    const store = sqliteStore();
    const target = await start({ store });
    const alice = await aliceOn(target, ['buyer', 'support']);
    expect(await rolesUpstreamSees(target, { cookie: alice.cookie })).toEqual(['buyer', 'support']);
    await cli(['set-roles', 'alice', '--roles', 'buyer'], store);
    expect(await rolesUpstreamSees(target, { cookie: alice.cookie })).toEqual(['buyer']);
    expect(
      await rolesUpstreamSees(target, { authorization: `Bearer ${alice.accessToken}` }),
    ).toEqual(['buyer']);
    const session = await get(target, '/auth/session', { cookie: alice.cookie });
    expect(session.json.user).toEqual({ id: 'alice', roles: ['buyer'] });
  });

  it('set by the admin API on B, seen through A', async () => {
    const [a, b] = await startPair(redisStore());
    const alice = await aliceOn(a, ['buyer']);
    expect(await rolesUpstreamSees(a, { cookie: alice.cookie })).toEqual(['buyer']);
    expect(await admin(b, 'PATCH', '/admin/users/alice', { roles: ['buyer', 'auditor'] })).toBe(
      200,
    );
    expect(await rolesUpstreamSees(a, { cookie: alice.cookie })).toEqual(['buyer', 'auditor']);
    expect(await rolesUpstreamSees(a, { authorization: `Bearer ${alice.accessToken}` })).toEqual([
      'buyer',
      'auditor',
    ]);
    // A refreshed access token carries the new roles as its scope too.
    const refreshed = await post(a, '/auth/refresh', { refreshToken: alice.refreshToken });
    const payload = (refreshed.json.accessToken as string).split('.')[1] as string;
    expect(JSON.parse(Buffer.from(payload, 'base64url').toString()).scope).toBe('buyer auditor');
  });
});
