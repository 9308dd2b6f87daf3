import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { normalizeRequestTarget } from '../../src/http/index.js';
import {
  type AttackTarget,
  type RawResponse,
  rawRequest,
  requestText,
  signIn,
  startAttackTarget,
} from './support.js';

/**
 * A path can leave its route: the gateway must decide the route on exactly
 * the path it forwards. Every request here is sent over a raw socket, bytes
 * as written, and judged by what the recording upstreams received.
 */

/** Each route has its own upstream, named like it, so a hit tells which route served the request. */
const ROUTES = [
  { name: 'root', prefix: '/', auth: 'none', base: '' },
  { name: 'pub', prefix: '/pub', auth: 'none', base: '' },
  { name: 'api', prefix: '/api', auth: 'session', base: '' },
  { name: 'apiary', prefix: '/apiary', auth: 'none', base: '' },
  { name: 'based', prefix: '/based', auth: 'none', base: '/svc/v1', stripPrefix: true },
] as const;
type RouteName = (typeof ROUTES)[number]['name'];

let target: AttackTarget;
let cookie: string;

beforeAll(async () => {
  target = await startAttackTarget({
    upstreams: ROUTES.map((route) => route.name),
    routes: (upstreams) =>
      ROUTES.map((route) => ({
        prefix: route.prefix,
        upstream: `${upstreams[route.name]?.url}${route.base}`,
        auth: route.auth,
        stripPrefix: 'stripPrefix' in route,
      })),
  });
  ({ cookie } = await signIn(target));
});
afterAll(async () => {
  await target?.close();
});
beforeEach(() => {
  for (const upstream of Object.values(target.upstreams)) upstream.hits.length = 0;
});

/** Every upstream's hits since the last reset, as `name: [urls]`, leaving out those that saw nothing. */
function hitsByUpstream(): Partial<Record<RouteName, string[]>> {
  const seen: Partial<Record<RouteName, string[]>> = {};
  for (const [name, upstream] of Object.entries(target.upstreams)) {
    if (upstream.hits.length > 0) seen[name as RouteName] = upstream.hits.map((hit) => hit.url);
  }
  return seen;
}

function resetHits(): void {
  for (const upstream of Object.values(target.upstreams)) upstream.hits.length = 0;
}

async function get(path: string, headers: string[] = [`Cookie: ${cookie}`]): Promise<RawResponse> {
  return rawRequest(target.port, Buffer.from(requestText(path, headers), 'latin1'));
}

/** The refusal shape: 400, ERR_PATH_INVALID, a message that quotes nothing of the path, a request id. */
function expectPathRefusal(response: RawResponse, path: string): void {
  expect({ path, status: response.status, json: response.json }).toEqual({
    path,
    status: 400,
    json: { error: { code: 'ERR_PATH_INVALID', message: expect.any(String) } },
  });
  const { message } = (response.json as { error: { message: string } }).error;
  expect(message).not.toContain(path);
  expect(message).not.toMatch(/pub|api|based|secret|internal|evil|%|\\/);
  expect(response.headers['x-request-id']).toHaveLength(1);
}

/** Either refused, or forwarded to exactly this upstream with exactly this request target. */
type Outcome = 'refused' | [RouteName, string];

const ENCODINGS: [string, string, Outcome][] = [
  // Backslashes: the reported escape, raw and encoded, any case.
  ['the reported escape', '/pub/x\\..\\..\\api/secret', 'refused'],
  ['the escape out of a base path', '/based/x\\..\\..\\..\\internal/secret', 'refused'],
  ['a lone backslash', '/pub/a\\b', 'refused'],
  ['encoded backslashes', '/pub/x%5C..%5C..%5Capi/secret', 'refused'],
  ['a lower-case encoded backslash', '/pub/x%5c', 'refused'],
  // Dot segments, written and encoded: resolved, then routed as what they resolve to.
  ['a resolved climb into another route', '/pub/../api/secret', ['api', '/api/secret']],
  ['encoded dots', '/pub/%2e%2e/api/secret', ['api', '/api/secret']],
  ['mixed-case encoded dots', '/pub/%2E%2e/api/secret', ['api', '/api/secret']],
  ['half-encoded dots', '/pub/.%2E/api/secret', ['api', '/api/secret']],
  ['a climb above the root', '/pub/../../api/secret', 'refused'],
  ['an encoded climb above the root', '/pub/%2e%2e/%2E%2E/api/secret', 'refused'],
  ['a bare climb', '/..', 'refused'],
  ['single dots', '/pub/./x/./y', ['pub', '/pub/x/y']],
  ['a trailing dot', '/pub/x/.', ['pub', '/pub/x/']],
  ['a climb out of a stripped prefix', '/based/../internal/secret', ['root', '/internal/secret']],
  ['a climb within a stripped prefix', '/based/a/../b', ['based', '/svc/v1/b']],
  ['a climb to a stripped prefix itself', '/based/a/..', ['based', '/svc/v1/']],
  // Double encoding stays literal: one decoding, never two.
  ['double-encoded dots', '/pub/%252e%252e/api/secret', ['pub', '/pub/%252e%252e/api/secret']],
  ['a double-encoded slash', '/pub/%252F', ['pub', '/pub/%252F']],
  // Segments that parameter-stripping servers (Tomcat, Jetty) read as dot segments.
  ['a Tomcat climb', '/pub/..;/api/secret', 'refused'],
  ['a Tomcat climb with a parameter', '/pub/x/..;a=b/api', 'refused'],
  ['a dot with a parameter', '/pub/.;/x', 'refused'],
  ['three dots', '/pub/.../api', 'refused'],
  ['a segment ending in two dots', '/pub/x../api', 'refused'],
  ['a parameter that is no dot segment', '/pub/x;a=b/y', ['pub', '/pub/x;a=b/y']],
  // Slashes.
  ['duplicate slashes', '//pub//x///y', ['pub', '/pub/x/y']],
  ['a protocol-relative look-alike', '//evil.example/pub', ['root', '/evil.example/pub']],
  ['a leading double slash into a session route', '//api/secret', ['api', '/api/secret']],
  ['an encoded slash', '/pub/a%2fb', 'refused'],
  ['an upper-case encoded slash', '/pub/..%2F..%2Fapi', 'refused'],
  ['an encoded slash hiding a prefix', '/api%2Fsecret', 'refused'],
  // Escapes of unreserved characters are the characters; others are kept, in upper case.
  ['an encoded prefix', '/p%75b/x', ['pub', '/pub/x']],
  ['a fully encoded prefix', '/%70%75%62/x', ['pub', '/pub/x']],
  ['encoded unreserved characters', '/pub/%7e%41%2D%5f', ['pub', '/pub/~A-_']],
  ['lower-case reserved escapes', '/pub/%3a%40%3b%3f', ['pub', '/pub/%3A%40%3B%3F']],
  ['an encoded question mark is no query', '/pub/%3F/../x', ['pub', '/pub/x']],
  ['an encoded space', '/pub/a%20b', ['pub', '/pub/a%20b']],
  ['characters a path may not hold raw', '/pub/{a}|^', ['pub', '/pub/%7Ba%7D%7C%5E']],
  ['a case that names no route', '/PUB/x', ['root', '/PUB/x']],
  // NUL, controls, invalid and overlong escapes.
  ['an encoded NUL', '/pub/x%00.json', 'refused'],
  ['an encoded line feed', '/pub/x%0aSet-Cookie:%20a=b', 'refused'],
  ['an encoded DEL', '/pub/%7F', 'refused'],
  ['a truncated escape', '/pub/%2', 'refused'],
  ['a bare percent', '/pub/100%', 'refused'],
  ['a non-hex escape', '/pub/%zz', 'refused'],
  ['an overlong dot', '/pub/%C0%AE%C0%AE/api', 'refused'],
  ['a three-byte overlong dot', '/pub/%E0%80%AE', 'refused'],
  ['a lone continuation byte', '/pub/%80', 'refused'],
  ['encoded UTF-8', '/pub/caf%c3%a9', ['pub', '/pub/caf%C3%A9']],
  ['an encoded emoji', '/pub/%F0%9F%94%91', ['pub', '/pub/%F0%9F%94%91']],
  // Targets that are not paths.
  ['absolute-form', 'http://127.0.0.1/api/secret', 'refused'],
  ['absolute-form naming another host', 'http://evil.example/pub/x', 'refused'],
  ['asterisk-form', '*', 'refused'],
  // The query is forwarded as sent, and never read as part of the path.
  ['dots in the query', '/pub?x=/../api', ['pub', '/pub?x=/../api']],
  ['backslashes in the query', '/pub/x?y=\\..\\..\\api', ['pub', '/pub/x?y=\\..\\..\\api']],
  ['escapes in the query', '/pub/x?a=%2e%2E&b=%2f', ['pub', '/pub/x?a=%2e%2E&b=%2f']],
  ['a query after a resolved path', '/pub/a/../b?c=d', ['pub', '/pub/b?c=d']],
  ['a fragment in the path', '/pub/x#/../../api', 'refused'],
  ['a fragment before a query', '/pub/x#y?z', 'refused'],
  ['a fragment after a query', '/pub/x?y#z', ['pub', '/pub/x?y#z']],
  // Prefixes that share a stem match whole segments only.
  ['the shorter of two stems', '/api/x', ['api', '/api/x']],
  ['the longer of two stems', '/apiary/x', ['apiary', '/apiary/x']],
  ['a stem that is neither', '/apix', ['root', '/apix']],
  ['a longer stem reached by dots', '/api/../apiary/x', ['apiary', '/apiary/x']],
  ['a longer stem reached by an escape', '/api%61ry/x', ['apiary', '/apiary/x']],
];

describe('a path cannot leave its route', () => {
  it.each(ENCODINGS)('%s: %s', async (_what, path, outcome) => {
    const response = await get(path);
    if (outcome === 'refused') {
      expectPathRefusal(response, path);
      expect(hitsByUpstream()).toEqual({});
      return;
    }
    const [name, url] = outcome;
    expect({ path, status: response.status, json: response.json }).toEqual({
      path,
      status: 200,
      json: { upstream: name, url },
    });
    expect(hitsByUpstream()).toEqual({ [name]: [url] });
    const hit = target.upstreams[name]?.hits[0];
    const context = hit?.headers['x-clawsession-context'];
    expect(typeof context === 'string').toBe(name === 'api');
  });

  it('answers a climb into a session route without a credential 401, upstreams untouched', async () => {
    const climbs = [
      '/pub/../api/secret',
      '/pub/%2e%2e/api/secret',
      '/apiary/%2E%2E/api/secret',
      '//api/secret',
      '/based/..//api/secret',
      '/%61pi/secret',
    ];
    for (const path of climbs) {
      const response = await get(path, []);
      expect({ path, status: response.status }).toEqual({ path, status: 401 });
    }
    expect(hitsByUpstream()).toEqual({});
  });

  it('refuses what the HTTP parser refuses (raw NUL, controls, non-ASCII, no leading slash), upstreams untouched', async () => {
    for (const path of [
      '/pub/x\u0000/../../api',
      '/pub/\u007f',
      '/pub/caf\u00c3\u00a9',
      '/pub/\t',
      'pub/x',
    ]) {
      const response = await get(path);
      expect({ path, status: response.status }).toEqual({ path, status: 400 });
    }
    expect(hitsByUpstream()).toEqual({});
  });

  it("keeps the gateway's own routes reachable, through their normal form too", async () => {
    expect((await get('/healthz', [])).status).toBe(200);
    expect((await get('/h%65althz', [])).status).toBe(200);
    expect((await get('/pub/../healthz', [])).status).toBe(200);
    const session = await get('/auth/./session');
    expect(session.status).toBe(200);
    expect((await get('/auth/session', [])).status).toBe(401);
    const admin = await get('/admin//users', [`Authorization: Bearer ${target.adminToken}`]);
    expect(admin.status).toBe(200);
    expect((await get('/v1//sessions/abc', [])).status).toBe(401);
    expect(hitsByUpstream()).toEqual({});
  });

  it('answers an unknown route with a JSON 404 and a bad path with a JSON 400 when no root route exists', async () => {
    const bare = await startAttackTarget({
      routes: (upstreams) => [
        { prefix: '/pub', upstream: `${upstreams.upstream?.url}`, auth: 'none' },
      ],
    });
    try {
      const missing = await rawRequest(bare.port, requestText('/nowhere/x'));
      expect(missing.status).toBe(404);
      expect(missing.json).toMatchObject({ error: { code: 'ERR_ROUTE_NOT_FOUND' } });
      const bad = await rawRequest(bare.port, requestText('/pub/x\\..\\..\\nowhere'));
      expect(bad.status).toBe(400);
      expect(bad.json).toMatchObject({ error: { code: 'ERR_PATH_INVALID' } });
      const climbed = await rawRequest(bare.port, requestText('/pub/%2e%2e/nowhere'));
      expect(climbed.status).toBe(404);
      expect(bare.upstreams.upstream?.hits).toEqual([]);
    } finally {
      await bare.close();
    }
  });

  it('reaches the upstream of the issue only as it was routed (two routes, one upstream)', async () => {
    const shared = await startAttackTarget({
      routes: (upstreams) => [
        { prefix: '/pub', upstream: `${upstreams.upstream?.url}`, auth: 'none' },
        { prefix: '/api', upstream: `${upstreams.upstream?.url}`, auth: 'session' },
        {
          prefix: '/based',
          upstream: `${upstreams.upstream?.url}/base`,
          auth: 'none',
          stripPrefix: true,
        },
      ],
    });
    try {
      for (const path of [
        '/pub/x\\..\\..\\api/secret',
        '/based/x\\..\\..\\..\\internal/secret',
        '/pub/x%5c..%5c..%5capi/secret',
      ]) {
        expectPathRefusal(await rawRequest(shared.port, requestText(path)), path);
      }
      expect((await rawRequest(shared.port, requestText('/pub/%2e%2e/api/secret'))).status).toBe(
        401,
      );
      expect(shared.upstreams.upstream?.hits).toEqual([]);
    } finally {
      await shared.close();
    }
  });
});

/** The route a normalised path belongs to, computed here independently: the longest whole-segment prefix. */
function routeOf(path: string): (typeof ROUTES)[number] {
  const under = ROUTES.filter(
    (route) => route.prefix === '/' || path === route.prefix || path.startsWith(`${route.prefix}/`),
  );
  return under.reduce((best, route) => (route.prefix.length > best.prefix.length ? route : best));
}

/** Characters that make paths interesting: separators, dots, escapes of both, parameters, and route names. */
const RICH = fc.constantFrom(
  ...'/\\.%2eEfF5cC;:?#apiryubsdx'.split(''),
  '%2e',
  '%2E',
  '%2f',
  '%5c',
  '..',
  '//',
  '/api',
  '/apiary',
  '/based',
  '/pub',
);
/** Printable ASCII: what a request line can carry (the parser refuses the rest before the gateway sees it). */
const PRINTABLE = fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code));
const PATHS = fc
  .tuple(
    fc.constantFrom('/', '/pub/', '/api/', '/apiary/', '/based/', '//', '/..'),
    fc.string({ unit: fc.oneof({ weight: 4, arbitrary: RICH }, PRINTABLE), maxLength: 24 }),
  )
  .map(([start, rest]) => `${start}${rest}`);

describe('for any path, through the real gateway', () => {
  it('forwards only to the route of the normalised path, under its base path, with a context on session routes', async () => {
    await fc.assert(
      fc.asyncProperty(PATHS, fc.boolean(), async (path, signedIn) => {
        resetHits();
        const response = await get(path, signedIn ? [`Cookie: ${cookie}`] : []);
        expect(response.status).toBeLessThan(500);
        const hits = Object.entries(target.upstreams).flatMap(([name, upstream]) =>
          upstream.hits.map((hit) => ({ name, hit })),
        );
        if (hits.length === 0) {
          expect(response.json).not.toHaveProperty('upstream');
          return;
        }
        expect(hits).toHaveLength(1);
        const [{ name, hit }] = hits as [(typeof hits)[number]];
        const normalised = normalizeRequestTarget(path);
        const queryAt = normalised.indexOf('?');
        const normalisedPath = queryAt === -1 ? normalised : normalised.slice(0, queryAt);
        const route = routeOf(normalisedPath);
        expect({ path, name }).toEqual({ path, name: route.name });
        const rest =
          'stripPrefix' in route ? normalisedPath.slice(route.prefix.length) : normalisedPath;
        expect({ path, url: hit.url }).toEqual({
          path,
          url: `${`${route.base}${rest}` || '/'}${queryAt === -1 ? '' : normalised.slice(queryAt)}`,
        });
        const forwardedPath = hit.url.split('?')[0];
        expect(forwardedPath === route.base || hit.url.startsWith(`${route.base}/`)).toBe(true);
        if (route.auth === 'session') {
          expect(signedIn).toBe(true);
          expect(typeof hit.headers['x-clawsession-context']).toBe('string');
        }
      }),
      { numRuns: 150 },
    );
  });
});
