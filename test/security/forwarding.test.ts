import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { type GatewayConfigInput, registerProxy } from '../../src/gateway/index.js';
import { IdentityContexts, SigningKeys } from '../../src/tokens/index.js';
import {
  type AttackTarget,
  createApiKey,
  type RecordingUpstream,
  rawRequest,
  requestText,
  signIn,
  startAttackTarget,
  startRecordingUpstream,
  type UpstreamHit,
} from './support.js';

/*
 * What a gateway forwards and passes back (issue 9): no header a trusted
 * proxy would set and no credential meant for the gateway reaches an
 * upstream, in any spelling, on any route kind; no upstream sets the
 * gateway's cookies; Host is checked; client headers cannot push the
 * gateway's own out of what an upstream keeps.
 */

const targets: AttackTarget[] = [];
afterEach(async () => {
  for (const target of targets.splice(0)) await target.close();
});

/** A gateway with a session route `/api` and a public route `/pub`, both to `upstream`. */
async function start(config: GatewayConfigInput = {}) {
  const target = await startAttackTarget({
    routes: (upstreams) => [
      { prefix: '/api', upstream: upstreams.upstream?.url as string, auth: 'session' },
      { prefix: '/pub', upstream: upstreams.upstream?.url as string, auth: 'none' },
    ],
    config,
  });
  targets.push(target);
  return { target, upstream: upstreamOf(target, 'upstream') };
}

function upstreamOf(target: AttackTarget, name: string): RecordingUpstream {
  const upstream = target.upstreams[name];
  if (upstream === undefined) throw new Error(`no upstream ${name}`);
  return upstream;
}

/** Header names as servers that fold `_` into `-` read them. */
const canonical = (name: string) => name.toLowerCase().replaceAll('_', '-');

/** Each name as sent, in lower case, in upper case, with underscores, and half-and-half. */
function spellings(name: string): string[] {
  const underscored = name.replaceAll('-', '_');
  const half = name.replace('-', '_');
  return [...new Set([name, name.toLowerCase(), name.toUpperCase(), underscored, half])];
}

/** The header lines of a hit, as [canonical name, value] pairs. */
function linesOf(hit: UpstreamHit): [string, string][] {
  const lines: [string, string][] = [];
  for (let at = 0; at < hit.rawHeaders.length; at += 2)
    lines.push([canonical(hit.rawHeaders[at] as string), hit.rawHeaders[at + 1] as string]);
  return lines;
}

const TRUSTED_BY_DOWNSTREAM = [
  'X-Original-URL',
  'X-Rewrite-URL',
  'X-Forwarded-For',
  'X-Forwarded-Host',
  'X-Forwarded-Proto',
  'X-Forwarded-Port',
  'X-Forwarded-Prefix',
  'X-Forwarded-Server',
  'X-Forwarded-Ssl',
  'X-Forwarded-Client-Cert',
  'Forwarded',
  'X-Real-IP',
  'True-Client-IP',
  'CF-Connecting-IP',
  'X-Client-IP',
  'X-Cluster-Client-IP',
  'X-Clawsession-Context',
  'X-Clawsession-User',
  'X-Request-Id',
  'X-HTTP-Method-Override',
];

/** Not a well-formed request id either, so the gateway does not adopt it as one. */
const FORGED = '203.0.113.66 forged';

/** The headers the gateway sets itself, in the order it sends them. */
const GATEWAY_OWN = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id'];

describe('headers a trusted proxy would set', () => {
  it('never reach an upstream from a client, in any spelling, repeated or empty, on session and public routes', async () => {
    const { target, upstream } = await start();
    const alice = await signIn(target);
    for (const name of TRUSTED_BY_DOWNSTREAM) {
      const forged = [
        ...spellings(name).map((spelling) => `${spelling}: ${FORGED}`),
        `${name}: ${FORGED}`, // repeated
        `${name.replaceAll('-', '_')}:`, // empty
      ];
      for (const [path, extra] of [
        ['/pub/x', []],
        ['/api/x', [`Cookie: ${alice.cookie}`]],
      ] as const) {
        upstream.hits.length = 0;
        const response = await rawRequest(target.port, requestText(path, [...forged, ...extra]));
        expect({ name, path, status: response.status }).toEqual({ name, path, status: 200 });
        const hit = upstream.hits[0] as UpstreamHit;
        const attacked = new Set(spellings(name).map(canonical));
        const seen = linesOf(hit).filter(([line]) => attacked.has(line));
        // Only the gateway's own value of a header it sets itself, once; none of the others.
        const own = GATEWAY_OWN.includes(canonical(name)) ? 1 : 0;
        const context = canonical(name) === 'x-clawsession-context' && path === '/api/x' ? 1 : 0;
        expect({ name, path, lines: seen.length }).toEqual({ name, path, lines: own + context });
        expect(JSON.stringify(hit.rawHeaders)).not.toContain(FORGED);
        const requestId = response.headers['x-request-id']?.[0];
        expect(hit.headers['x-request-id']).toBe(requestId);
        expect(hit.headers['x-forwarded-for']).toBe('127.0.0.1');
        expect(hit.headers['x-forwarded-host']).toBe('127.0.0.1');
        expect(hit.headers['x-forwarded-proto']).toBe('http');
      }
    }
  });

  it('never reach an upstream as a method override that would skip the CSRF check', async () => {
    const { target, upstream } = await start();
    const alice = await signIn(target);
    const response = await rawRequest(
      target.port,
      requestText('/api/orders/7', [
        `Cookie: ${alice.cookie}`,
        'X-HTTP-Method-Override: DELETE',
        'X_HTTP_Method: DELETE',
        'x-method-override: DELETE',
      ]),
    );
    expect(response.status).toBe(200);
    expect(JSON.stringify(upstream.hits[0]?.rawHeaders)).not.toContain('DELETE');
  });
});

describe('headers about the client connection', () => {
  it('stay at the gateway, so that the request still goes through', async () => {
    const { target, upstream } = await start();
    const hopByHop = [
      'Keep-Alive: timeout=5',
      'Keep_Alive: timeout=5',
      'Upgrade: websocket',
      'TE: trailers',
      'Proxy-Connection: keep-alive',
    ];
    for (const line of hopByHop) {
      const request = requestText('/pub/upload', [line], { method: 'POST', body: '{"n":1}' });
      const response = await rawRequest(target.port, request);
      const name = canonical(line.slice(0, line.indexOf(':')));
      expect({ line, status: response.status }).toEqual({ line, status: 200 });
      const hit = upstream.hits.at(-1) as UpstreamHit;
      expect(linesOf(hit).filter(([seen]) => seen === name)).toEqual([]);
      expect(hit.body).toBe('{"n":1}');
    }
  });

  it('answer Expect: 100-continue at the gateway, and the upload reaches the upstream without it', async () => {
    const { target, upstream } = await start();
    const request = httpRequest({
      port: target.port,
      host: '127.0.0.1',
      method: 'POST',
      path: '/pub/upload',
      headers: { expect: '100-continue', 'content-length': 7 },
    });
    request.on('continue', () => request.end('{"n":1}'));
    const [response] = (await once(request, 'response')) as [IncomingMessage];
    response.resume();
    expect(response.statusCode).toBe(200);
    expect(upstream.hits[0]?.headers.expect).toBeUndefined();
    expect(upstream.hits[0]?.body).toBe('{"n":1}');
  });
});

describe('credentials meant for the gateway', () => {
  async function credentials(target: AttackTarget) {
    const { cookie, csrfToken } = await signIn(target, 'alice', { password: 'correct horse 1' });
    const token = await fetch(`${target.url}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'correct horse 1' }),
    });
    const { accessToken } = (await token.json()) as { accessToken: string };
    const key = await createApiKey(target, { owner: 'billing', scopes: ['sessions:read'] });
    expect({ accessToken, key }).toMatchObject({
      accessToken: expect.stringMatching(/^ey/),
      key: expect.stringMatching(/^cs_live_/),
    });
    return { cookie, csrfToken, accessToken, apiKey: key, adminToken: target.adminToken };
  }

  it('never reach a public upstream, in Authorization under any scheme or in their own headers', async () => {
    const { target, upstream } = await start();
    const secrets = await credentials(target);
    const { adminToken, accessToken, apiKey, csrfToken } = secrets;
    const attempts = [
      [`Authorization: Bearer ${adminToken}`],
      [`Authorization: bearer   ${adminToken}`],
      [`Authorization: ${adminToken}`],
      [`Authorization: Token ${adminToken}`],
      [`Authorization: Bearer ${accessToken}`],
      [`Authorization: DPoP ${accessToken}`],
      [`Authorization: Bearer ${apiKey}`],
      [`Authorization: ${apiKey}`],
      ['Authorization: Bearer cs_test_not_a_real_key_format_but_ours'],
      [`X-API-Key: ${apiKey}`],
      [`x_api_key: ${apiKey}`],
      [`X-Api-Key: ${adminToken}`],
      [`X-API-Key: ${apiKey}`, `X-API-Key: ${apiKey}`],
      [`X-CSRF-Token: ${csrfToken}`],
      [`X_CSRF_TOKEN: ${csrfToken}`],
      [`Proxy-Authorization: Bearer ${adminToken}`],
    ];
    for (const lines of attempts) {
      upstream.hits.length = 0;
      const response = await rawRequest(target.port, requestText('/pub/x', lines));
      expect({ lines, status: response.status }).toEqual({ lines, status: 200 });
      const sent = JSON.stringify(upstream.hits[0]?.rawHeaders);
      for (const secret of [adminToken, accessToken, apiKey, csrfToken, 'cs_test_'])
        expect({ lines, leaked: sent.includes(secret) }).toEqual({ lines, leaked: false });
    }
  });

  it("lets a public upstream's own credentials through", async () => {
    const { target, upstream } = await start();
    for (const authorization of ['Basic dXNlcjpwYXNz', 'Bearer upstream-own-opaque-token']) {
      await rawRequest(target.port, requestText('/pub/x', [`Authorization: ${authorization}`]));
      expect(upstream.hits.at(-1)?.headers.authorization).toBe(authorization);
    }
  });

  it('never reach a session upstream, whichever credential signed the request in', async () => {
    const { target, upstream } = await start();
    const secrets = await credentials(target);
    const { cookie, csrfToken, accessToken, apiKey, adminToken } = secrets;
    const attempts = [
      [`Authorization: Bearer ${accessToken}`],
      [`Authorization: Bearer ${accessToken}`, `X-API-Key: ${apiKey}`, `X_Api_Key: ${adminToken}`],
      [`Cookie: ${cookie}`, `X-CSRF-Token: ${csrfToken}`, `X-API-Key: ${apiKey}`],
      [
        `Cookie: ${cookie}`,
        `X-CSRF-Token: ${csrfToken}`,
        `X_CSRF_Token: ${csrfToken}`,
        `x-api-key: ${adminToken}`,
      ],
    ];
    for (const lines of attempts) {
      for (const method of ['GET', 'POST']) {
        upstream.hits.length = 0;
        const response = await rawRequest(
          target.port,
          requestText('/api/x', lines, { method, body: method === 'POST' ? '{}' : undefined }),
        );
        expect({ lines, method, status: response.status }).toEqual({ lines, method, status: 200 });
        const sent = JSON.stringify(upstream.hits[0]?.rawHeaders);
        for (const secret of [adminToken, accessToken, apiKey, csrfToken, cookie])
          expect({ lines, leaked: sent.includes(secret) }).toEqual({ lines, leaked: false });
        expect(upstream.hits[0]?.headers['x-clawsession-context']).toMatch(/^ey/);
      }
    }
  });

  it('are refused on a session route when they are not a session credential, upstream untouched', async () => {
    const { target, upstream } = await start();
    const { apiKey, adminToken } = await credentials(target);
    for (const authorization of [`Bearer ${adminToken}`, `Bearer ${apiKey}`]) {
      const response = await rawRequest(
        target.port,
        requestText('/api/x', [`Authorization: ${authorization}`]),
      );
      expect(response.status).toBe(401);
    }
    expect(upstream.hits).toHaveLength(0);
  });
});

describe("an upstream and the gateway's cookies", () => {
  const hostile = [
    '__Host-cs_session=planted; Path=/; Secure; HttpOnly',
    '__Host-cs_session=; Max-Age=0; Path=/; Secure',
    '__HOST-CS_SESSION=planted; Path=/; Secure',
    'cs_session=planted; Path=/',
    '__Secure-cs_session=planted; Path=/; Secure',
    '=__Host-cs_session=planted; Path=/',
    '__Host-cs_session',
  ];
  const harmless = ['theme=dark; Path=/', 'cs_session_prefs=compact; Path=/', 'upstream_sid=abc'];

  it('cannot set or clear them, on either route kind; its other cookies pass; each drop is counted', async () => {
    const { target, upstream } = await start();
    const alice = await signIn(target);
    upstream.responseHeaders['set-cookie'] = [
      ...harmless.slice(0, 1),
      ...hostile,
      ...harmless.slice(1),
    ];
    for (const [path, lines] of [
      ['/pub/x', []],
      ['/api/x', [`Cookie: ${alice.cookie}`]],
    ] as const) {
      const response = await rawRequest(target.port, requestText(path, [...lines]));
      expect(response.status).toBe(200);
      expect(response.headers['set-cookie']).toEqual(harmless);
    }
    upstream.responseHeaders['set-cookie'] = '__Host-cs_session=alone; Path=/';
    const single = await rawRequest(target.port, requestText('/pub/y'));
    expect(single.headers['set-cookie']).toBeUndefined();

    const metrics = await fetch(`${target.url}/metrics`, {
      headers: { authorization: `Bearer ${target.adminToken}` },
    });
    const text = await metrics.text();
    expect(text).toContain(
      `clawsession_upstream_cookies_dropped_total{route="/pub"} ${hostile.length + 1}`,
    );
    expect(text).toContain(
      `clawsession_upstream_cookies_dropped_total{route="/api"} ${hostile.length}`,
    );
  });

  it('are logged at warn when an upstream tries, by name and route, never by value', async () => {
    const upstream = await startRecordingUpstream();
    upstream.responseHeaders['set-cookie'] = ['__Host-cs_session=planted-secret; Path=/', 'a=1'];
    const lines: string[] = [];
    const app = Fastify({
      logger: { level: 'warn', stream: { write: (line: string) => lines.push(line) } },
    });
    registerProxy(app, {
      routes: [{ prefix: '/pub', upstream: upstream.url, auth: 'none' }],
      authenticate: async () => null,
      contexts: new IdentityContexts({
        keys: await SigningKeys.generate(),
        issuer: 'gateway',
        audience: 'upstreams',
      }),
      sessionCookieName: '__Host-cs_session',
    });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const response = await fetch(`${url}/pub/x`);
      expect(response.headers.getSetCookie()).toEqual(['a=1']);
      const warnings = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(warnings).toEqual([
        expect.objectContaining({ level: 40, route: '/pub', cookie: '__Host-cs_session' }),
      ]);
      expect(lines.join('\n')).not.toContain('planted-secret');
    } finally {
      await app.close();
      await upstream.close();
    }
  });

  it('are still set by the gateway itself on a proxied response', async () => {
    const { target, upstream } = await start({ rotation: { interval: '1ms' } });
    const alice = await signIn(target);
    upstream.responseHeaders['set-cookie'] = '__Host-cs_session=planted; Path=/';
    const response = await rawRequest(
      target.port,
      requestText('/api/x', [`Cookie: ${alice.cookie}`]),
    );
    expect(response.status).toBe(200);
    const cookies = response.headers['set-cookie'] ?? [];
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatch(/^__Host-cs_session=[A-Za-z0-9_-]{43};/);
  });
});

/** A request exactly as written, with no Host of its own. */
function withHostLines(target: string, hostLines: string[], extra: string[] = []): string {
  return `${[`GET ${target} HTTP/1.1`, ...hostLines, ...extra, 'Connection: close'].join('\r\n')}\r\n\r\n`;
}

describe('the Host header', () => {
  const malformed = [
    ['Host: evil.example@127.0.0.1'],
    ['Host: 127.0.0.1/admin'],
    ['Host: a b.example'],
    ['Host: gateway.example:99999'],
    ['Host: gateway.example:'],
    ['Host: gateway.example:80:80'],
    ['Host: gateway.example:8o'],
    ['Host: gateway.example, evil.example'],
    ['Host: gateway.example;for=evil'],
    ['Host: [::1'],
    ['Host: [not-v6]:80'],
    ['Host: %65vil.example'],
    ['Host:'],
    ['Host: 127.0.0.1', 'Host: evil.example'],
    ['Host: 127.0.0.1', 'host: 127.0.0.1'],
  ];

  it('is refused with 400 JSON when malformed, on proxied, gateway and unknown routes alike', async () => {
    const { target, upstream } = await start();
    for (const path of ['/pub/x', '/api/x', '/healthz', '/auth/session', '/no/such/route']) {
      for (const hostLines of malformed) {
        const response = await rawRequest(target.port, withHostLines(path, hostLines));
        expect({ path, hostLines, status: response.status, json: response.json }).toEqual({
          path,
          hostLines,
          status: 400,
          json: { error: { code: 'ERR_HOST_INVALID', message: expect.any(String) } },
        });
      }
    }
    const noHost = await rawRequest(target.port, 'GET /pub/x HTTP/1.0\r\n\r\n');
    expect({ status: noHost.status, json: noHost.json }).toMatchObject({
      status: 400,
      json: { error: { code: 'ERR_HOST_INVALID' } },
    });
    expect(upstream.hits).toHaveLength(0);
  });

  it('is passed on as X-Forwarded-Host when well-formed', async () => {
    const { target, upstream } = await start();
    for (const host of [
      'gateway.example.com',
      'gateway.example.com:8443',
      '[::1]:8080',
      '10.0.0.1',
    ]) {
      const response = await rawRequest(target.port, withHostLines('/pub/x', [`Host: ${host}`]));
      expect(response.status).toBe(200);
      expect(upstream.hits.at(-1)?.headers['x-forwarded-host']).toBe(host);
    }
  });

  it('gives way to the configured public host, which upstreams always get', async () => {
    const { target, upstream } = await start({ publicHost: 'gateway.example.com:8443' });
    for (const lines of [
      ['Host: other.example'],
      ['Host: 127.0.0.1', 'X-Forwarded-Host: evil.example'],
    ]) {
      await rawRequest(target.port, withHostLines('/pub/x', lines));
      expect(upstream.hits.at(-1)?.headers['x-forwarded-host']).toBe('gateway.example.com:8443');
    }
  });

  it("is refused when a trusted proxy's X-Forwarded-Host is malformed", async () => {
    const { target, upstream } = await start({ trustProxy: true });
    const response = await rawRequest(
      target.port,
      withHostLines('/pub/x', ['Host: 127.0.0.1', 'X-Forwarded-Host: evil.example/x']),
    );
    expect(response.status).toBe(400);
    const good = await rawRequest(
      target.port,
      withHostLines('/pub/x', ['Host: 127.0.0.1', 'X-Forwarded-Host: gateway.example.com']),
    );
    expect(good.status).toBe(200);
    expect(upstream.hits.map((hit) => hit.headers['x-forwarded-host'])).toEqual([
      'gateway.example.com',
    ]);
  });
});

describe('how many headers a client may send', () => {
  /** `count` distinct header lines, small enough that 1,100 stay under Node's 16 KiB head limit. */
  const fillers = (count: number) =>
    Array.from({ length: count }, (_, i) => `f-${i.toString(36)}: 1`);

  it('beyond the cap, is a 431 JSON on every route kind, and nothing reaches an upstream', async () => {
    const { target, upstream } = await start();
    const alice = await signIn(target);
    const floods = [
      fillers(1_100),
      fillers(99), // with Host and Connection, one over the default cap of 100
      Array.from({ length: 99 }, () => 'X-Same: 1'), // repeats count
    ];
    for (const path of ['/pub/x', '/api/x', '/healthz', '/no/such/route']) {
      for (const flood of floods) {
        const cookie = path === '/api/x' ? [`Cookie: ${alice.cookie}`] : [];
        const response = await rawRequest(target.port, requestText(path, [...cookie, ...flood]));
        expect({ path, lines: flood.length, status: response.status, json: response.json }).toEqual(
          {
            path,
            lines: flood.length,
            status: 431,
            json: { error: { code: 'ERR_HEADERS_TOO_MANY', message: expect.any(String) } },
          },
        );
      }
    }
    expect(upstream.hits).toHaveLength(0);
  });

  it('at exactly the cap, passes, with the gateway headers first at the upstream', async () => {
    const { target, upstream } = await start({ maxRequestHeaders: 200 });
    const alice = await signIn(target);
    // Host, Cookie and Connection, then fillers up to the cap; forged gateway headers at the end.
    const lines = [`Cookie: ${alice.cookie}`, ...fillers(195), 'X-Forwarded-For: 203.0.113.66'];
    const response = await rawRequest(target.port, requestText('/api/x', lines));
    expect(response.status).toBe(200);
    // undici adds its own `connection: keep-alive` after host; the gateway's come next.
    const names = linesOf(upstream.hits[0] as UpstreamHit)
      .map(([name]) => name)
      .filter((name) => name !== 'connection');
    expect(names.slice(0, 6)).toEqual(['host', 'x-clawsession-context', ...GATEWAY_OWN]);
    expect(names.filter((name) => name === 'x-forwarded-for')).toHaveLength(1);
    expect(names.filter((name) => name.startsWith('f-'))).toHaveLength(195);
  });

  it("cannot push the gateway's headers out of what a Node upstream keeps", async () => {
    // The largest cap there is, and client headers that fill it: the gateway's still come first.
    const { target, upstream } = await start({ maxRequestHeaders: 999 });
    const response = await rawRequest(target.port, requestText('/pub/x', fillers(997)));
    expect(response.status).toBe(200);
    const hit = upstream.hits[0] as UpstreamHit;
    expect(hit.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(hit.headers['x-request-id']).toBe(response.headers['x-request-id']?.[0]);
    expect(hit.headers['x-forwarded-host']).toBe('127.0.0.1');
  });
});

describe("a route's upstream pool", () => {
  it('never opens more connections than the route allows, while another route uses more', async () => {
    const target = await startAttackTarget({
      upstreams: ['narrow', 'wide'],
      routes: (upstreams) => [
        {
          prefix: '/narrow',
          upstream: upstreams.narrow?.url as string,
          auth: 'none',
          connections: 1,
        },
        { prefix: '/wide', upstream: upstreams.wide?.url as string, auth: 'none', connections: 4 },
      ],
    });
    targets.push(target);
    const narrow = upstreamOf(target, 'narrow');
    const wide = upstreamOf(target, 'wide');
    // The wide upstream answers only once four requests are open at once: it needs four connections.
    let release!: () => void;
    const allOpen = new Promise<void>((resolve) => {
      release = resolve;
    });
    wide.beforeAnswer = () => {
      if (wide.hits.length === 4) release();
      return allOpen;
    };
    // The narrow one answers slowly, so that a pool that could open more connections would.
    narrow.beforeAnswer = () => new Promise((resolve) => setTimeout(resolve, 20));

    const requests = (prefix: string, count: number) =>
      Array.from({ length: count }, (_, i) =>
        fetch(`${target.url}${prefix}/${i}`).then((response) => response.status),
      );
    const statuses = await Promise.all([...requests('/narrow', 8), ...requests('/wide', 4)]);
    expect(statuses.every((status) => status === 200)).toBe(true);
    expect(narrow.hits).toHaveLength(8);
    expect(narrow.connections.most).toBe(1);
    expect(wide.connections.most).toBe(4);
  });
});
