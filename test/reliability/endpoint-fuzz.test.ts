import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayProcess, startGatewayProcess } from './support/gateway-process.js';
import { call } from './support/http-client.js';
import { ADMIN, ADMIN_TOKEN, createSession } from './support/sessions-api.js';
import { scratchRedis } from './support/shared-stores.js';

/*
 * Random bytes and random JSON at every route of a running `clawsession
 * serve`, with and without credentials. Whatever arrives: no 5xx, every
 * refusal is the API's JSON error, the process stays up, and a refused
 * request leaves the stored state (users, keys, the known users' sessions,
 * read through the admin API) exactly as it was.
 */

const REQUEST_BOUND_MS = 15_000;
const USERS = ['alice', 'bob'];

const store = scratchRedis();
let gateway: GatewayProcess;
let knownSessionId: string;
let knownKeyPrefix: string;

beforeAll(async () => {
  gateway = await startGatewayProcess({
    env: {
      CLAWSESSION_STORE: store.url,
      CLAWSESSION_ADMIN_TOKEN: ADMIN_TOKEN,
      CLAWSESSION_COOKIE: JSON.stringify({ insecureDevelopmentMode: true }),
      // Thousands of bad credentials come from this one address, and the snapshots read with
      // the good one from it too: the per-address throttle (test/security) would refuse those.
      CLAWSESSION_RATE_LIMITS: JSON.stringify({
        serviceAuthPerIp: { limit: 1_000_000, window: '15m' },
      }),
    },
  });
  for (const username of USERS) {
    const added = await call(gateway.url, 'POST', '/admin/users', {
      headers: ADMIN,
      body: { username, password: 'correct horse battery' },
      timeoutMs: REQUEST_BOUND_MS,
    });
    expect(added).toMatchObject({ status: 201 });
  }
  knownSessionId = await createSession(gateway.url, { cart: ['a'] }, 'shopper');
  const key = await call(gateway.url, 'POST', '/admin/keys', {
    headers: ADMIN,
    body: { owner: 'fuzz', scopes: ['sessions:read'] },
    timeoutMs: REQUEST_BOUND_MS,
  });
  knownKeyPrefix = (key as { body: { info: { prefix: string } } }).body.info.prefix;
});

afterAll(async () => {
  await gateway?.stop();
  await store.drop();
});

/** What a refused request must not change, read through the admin API. */
async function snapshot(): Promise<unknown> {
  const read = async (path: string) => {
    const outcome = await call(gateway.url, 'GET', path, {
      headers: ADMIN,
      timeoutMs: REQUEST_BOUND_MS,
    });
    expect(outcome).toMatchObject({ kind: 'response', status: 200 });
    return (outcome as { body: unknown }).body;
  };
  const sessions = [];
  for (const userId of ['shopper', ...USERS])
    sessions.push(await read(`/v1/users/${userId}/sessions`));
  return { users: await read('/admin/users'), keys: await read('/admin/keys'), sessions };
}

const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
const segment = fc.oneof(
  fc.constantFrom('alice', 'bob', 'nobody', '', '%00', '..', 'a%2Fb'),
  fc.string({ maxLength: 30 }).map(encodeURIComponent),
  hex64,
);
const sessionRef = fc.oneof(segment, fc.constant('known'), fc.constant('known'));
const keyRef = fc.oneof(segment, fc.constant('known-key'), fc.constant('known-key'));
/** Every route with its method, parameters filled with known, well-formed or random values. */
const route = fc.oneof(
  fc.constantFrom(
    ['POST', '/auth/login'],
    ['POST', '/auth/logout'],
    ['GET', '/auth/session'],
    ['GET', '/auth/sessions'],
    ['POST', '/auth/sessions/revoke-others'],
    ['POST', '/auth/token'],
    ['POST', '/auth/refresh'],
    ['GET', '/.well-known/jwks.json'],
    ['POST', '/v1/sessions'],
    ['POST', '/v1/sessions/validate'],
    ['POST', '/admin/users'],
    ['GET', '/admin/users'],
    ['POST', '/admin/keys'],
    ['GET', '/admin/keys'],
    ['GET', '/metrics'],
    ['GET', '/healthz'],
    ['GET', '/readyz'],
  ),
  segment.map((id) => ['DELETE', `/auth/sessions/${id}`]),
  fc
    .tuple(fc.constantFrom('GET', 'PATCH', 'DELETE'), sessionRef)
    .map(([method, id]) => [method, `/v1/sessions/${id}`]),
  sessionRef.map((id) => ['POST', `/v1/sessions/${id}/regenerate`]),
  fc
    .tuple(
      fc.constantFrom('GET', 'DELETE'),
      segment,
      fc.constantFrom('', '?except=', '?except=known', '?x=1'),
    )
    .map(([method, user, query]) => [method, `/v1/users/${user}/sessions${query}`]),
  segment.map((user) => ['DELETE', `/admin/users/${user}`]),
  fc
    .tuple(fc.constantFrom('GET', 'DELETE'), keyRef)
    .map(([method, prefix]) => [method, `/admin/keys/${prefix}`]),
  keyRef.map((prefix) => ['POST', `/admin/keys/${prefix}/rotate`]),
) as fc.Arbitrary<[string, string]>;
/** Mostly the route's own method; sometimes another, which must be refused as cleanly. */
const methodAndPath = fc
  .tuple(
    route,
    fc.oneof(
      { arbitrary: fc.constant(undefined), weight: 4 },
      {
        arbitrary: fc.constantFrom('GET', 'POST', 'PATCH', 'DELETE', 'PUT', 'OPTIONS', 'HEAD'),
        weight: 1,
      },
    ),
  )
  .map(([[method, path], other]) => ({ method: other ?? method, path }));
const body = fc.oneof(
  fc.constant(undefined),
  fc.uint8Array({ maxLength: 256 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
  fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
  fc
    .record(
      { userId: fc.string(), data: fc.jsonValue(), token: fc.string(), username: fc.string() },
      { requiredKeys: [] },
    )
    .map((value) => JSON.stringify(value)),
  fc
    .array(
      fc.record(
        {
          op: fc.constantFrom('add', 'remove', 'replace', 'test', 'move', 'increment', 'x'),
          path: fc.constantFrom('', '/', '/cart/-', '/cart/0', '/__clawsession_csrf', '/a/b'),
          value: fc.jsonValue({ maxDepth: 2 }),
        },
        { requiredKeys: ['op'] },
      ),
      { maxLength: 3 },
    )
    .map((value) => JSON.stringify(value)),
);
const request = fc.record({
  target: methodAndPath,
  body,
  contentType: fc.oneof(
    { arbitrary: fc.constantFrom('application/json', 'application/json-patch+json'), weight: 3 },
    {
      arbitrary: fc.constantFrom(
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/octet-stream',
        '*/*; x',
      ),
      weight: 1,
    },
  ),
  // Mostly the admin token, so requests get past authentication to the routes themselves.
  authorization: fc.oneof(
    { arbitrary: fc.constant('admin'), weight: 3 },
    { arbitrary: fc.constantFrom('none', 'garbage-bearer', 'garbage-key'), weight: 2 },
  ),
  ifMatch: fc.option(
    fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('*', '"1"', '"2", W/"3"')),
    { nil: undefined },
  ),
  cookie: fc.option(
    fc.string({ maxLength: 80 }).map((value) => `cs_session=${value}`),
    { nil: undefined },
  ),
});

function credentials(kind: string): Record<string, string> {
  switch (kind) {
    case 'admin':
      return ADMIN;
    case 'garbage-bearer':
      return { authorization: `Bearer ${randomBytes(24).toString('base64url')}` };
    case 'garbage-key':
      return { 'x-api-key': `cs_live_${knownKeyPrefix}_${randomBytes(32).toString('base64url')}` };
    default:
      return {};
  }
}

describe('random requests at every gateway endpoint', () => {
  it('never get a 5xx, are refused with JSON errors, and a refusal changes nothing stored', async () => {
    let before = await snapshot();
    await fc.assert(
      fc.asyncProperty(request, async (input) => {
        const { method } = input.target;
        const target = input.target.path
          .replace('/known-key', `/${knownKeyPrefix}`)
          .replace('/known', `/${knownSessionId}`)
          .replace('except=known', `except=${knownSessionId}`);
        const headers: Record<string, string> = credentials(input.authorization);
        if (input.ifMatch !== undefined) headers['if-match'] = input.ifMatch;
        if (input.cookie !== undefined) headers.cookie = input.cookie;
        const sendsBody = input.body !== undefined && !['GET', 'HEAD', 'OPTIONS'].includes(method);
        const outcome = await call(gateway.url, method, target, {
          headers,
          body: sendsBody ? input.body : undefined,
          contentType: input.contentType,
          timeoutMs: REQUEST_BOUND_MS,
        });
        expect(outcome.kind).toBe('response');
        if (outcome.kind !== 'response') return;
        expect(outcome.status, JSON.stringify(outcome.body)).toBeLessThan(500);
        if (outcome.status < 400) {
          before = await snapshot();
          return;
        }
        // A HEAD answer has no body to carry the error.
        if (method !== 'HEAD')
          expect(outcome.body).toMatchObject({
            error: { code: expect.any(String), message: expect.any(String) },
          });
        const after = await snapshot();
        expect(isDeepStrictEqual(after, before), `${method} ${target} changed the store`).toBe(
          true,
        );
      }),
      { numRuns: 800 },
    );
    expect(gateway.child.exitCode).toBeNull();
    expect(
      await call(gateway.url, 'GET', '/healthz', { timeoutMs: REQUEST_BOUND_MS }),
    ).toMatchObject({ status: 200 });
  });
});
