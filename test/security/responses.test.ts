import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AttackTarget,
  createApiKey,
  type RawResponse,
  rawRequest,
  readRawResponse,
  requestText,
  startAttackTarget,
} from './support.js';

/** Placed in paths, queries and headers: no error may send it back. */
const MARKER = 'ZZMARKERZZ';
const UPSTREAM_CACHING = 'public, max-age=60';

/** A port nothing listens on: an upstream that is down. */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startTarget() {
  const down = await closedPort();
  return startAttackTarget({
    upstreams: ['plain', 'cached'],
    routes: ({ plain, cached }) => [
      { prefix: '/pub', upstream: plain?.url ?? '', auth: 'none' },
      { prefix: '/cached', upstream: cached?.url ?? '', auth: 'none' },
      { prefix: '/app', upstream: plain?.url ?? '', auth: 'session' },
      { prefix: '/down', upstream: `http://127.0.0.1:${down}`, auth: 'none' },
    ],
  });
}

/** What kind of answer a probe gets, which decides the headers it must carry. */
type Kind = 'gateway' | 'upstream' | 'jwks';

interface Probe {
  name: string;
  request: string | Buffer;
  status: number;
  kind?: Kind;
}

describe('every response', () => {
  let target: AttackTarget;
  let readerKey: string;
  let sessionId: string;
  beforeAll(async () => {
    target = await startTarget();
    const cached = target.upstreams.cached;
    if (cached) cached.responseHeaders['cache-control'] = UPSTREAM_CACHING;
    const root = {
      authorization: `Bearer ${target.adminToken}`,
      'content-type': 'application/json',
    };
    readerKey = await createApiKey(target, { owner: 'reader', scopes: ['sessions:read'] });
    const created = await fetch(`${target.url}/v1/sessions`, {
      method: 'POST',
      headers: root,
      body: JSON.stringify({ userId: 'alice' }),
    });
    sessionId = ((await created.json()) as { session: { id: string } }).session.id;
  });
  afterAll(() => target.close());

  function probes(): Probe[] {
    const marker = `X-Marker: ${MARKER}`;
    const query = `?${MARKER}=${MARKER}`;
    const root = `Authorization: Bearer ${target.adminToken}`;
    const json = 'Content-Type: application/json';
    const post = (path: string, headers: string[], body: string) =>
      requestText(path, [marker, ...headers], { method: 'POST', body });
    return [
      { name: 'healthz', request: requestText(`/healthz${query}`, [marker]), status: 200 },
      { name: 'readyz', request: requestText(`/readyz${query}`, [marker]), status: 200 },
      { name: 'metrics', request: requestText('/metrics', [marker, root]), status: 200 },
      {
        name: 'the JWKS',
        request: requestText('/.well-known/jwks.json', [marker]),
        status: 200,
        kind: 'jwks',
      },
      {
        name: 'a 204',
        request: requestText(`/v1/sessions/${sessionId}`, [marker, root], { method: 'DELETE' }),
        status: 204,
      },
      {
        name: 'a login without a password',
        request: post('/auth/login', [json], JSON.stringify({ username: MARKER })),
        status: 400,
      },
      {
        name: 'a login body that is not JSON',
        request: post('/auth/login', [json], `{"${MARKER}`),
        status: 400,
      },
      {
        name: 'a login body too large',
        request: post('/auth/login', [json], JSON.stringify({ username: MARKER.repeat(2_000) })),
        status: 413,
      },
      {
        name: 'a body of a type the API does not take',
        request: post('/v1/sessions', [root, `Content-Type: text/${MARKER}`], MARKER),
        status: 415,
      },
      {
        name: 'an unknown query field',
        request: requestText(`/v1/users/alice/sessions${query}`, [marker, root], {
          method: 'DELETE',
        }),
        status: 400,
      },
      {
        name: 'the session of nobody',
        request: requestText('/auth/session', [marker]),
        status: 401,
      },
      {
        name: '/v1 without a credential',
        request: requestText(`/v1/users/${MARKER}/sessions${query}`, [marker]),
        status: 401,
      },
      {
        name: '/v1 with a bad credential',
        request: requestText('/v1/users/alice/sessions', [`Authorization: Bearer ${MARKER}`]),
        status: 401,
      },
      {
        name: '/admin with a key that lacks the scope',
        request: requestText(`/admin/keys${query}`, [marker, `X-API-Key: ${readerKey}`]),
        status: 403,
      },
      {
        name: 'a session that does not exist',
        request: requestText(`/v1/sessions/${'0'.repeat(64)}`, [marker, root]),
        status: 404,
      },
      {
        name: 'a user that does not exist',
        request: requestText(`/admin/users/${MARKER}${query}`, [marker, root], {
          method: 'DELETE',
        }),
        status: 404,
      },
      {
        name: 'an API key that does not exist',
        request: requestText(`/admin/keys/${MARKER}00${query}`, [marker, root], {
          method: 'DELETE',
        }),
        status: 404,
      },
      {
        name: 'an unknown route',
        request: requestText(`/${MARKER}/nowhere${query}`, [marker]),
        status: 404,
      },
      {
        name: 'an unknown method',
        request: requestText(`/healthz${query}`, [marker], { method: 'PUT', body: '' }),
        status: 404,
      },
      {
        name: 'a bad escape',
        request: requestText(`/%zz${MARKER}${query}`, [marker]),
        status: 400,
      },
      {
        name: 'a truncated UTF-8 escape',
        request: requestText(`/%E0%A4%A${MARKER}${query}`, [marker]),
        status: 400,
      },
      {
        name: 'an overlong header',
        request: requestText(`/healthz${query}`, [`X-Filler: ${MARKER}${'f'.repeat(20_000)}`]),
        status: 431,
      },
      {
        name: 'a header name with a space',
        request: requestText(`/healthz${query}`, [`Bad ${MARKER}: x`]),
        status: 400,
      },
      {
        name: 'a control character in a header value',
        request: requestText(`/healthz${query}`, [`X-Marker: ${MARKER}\x01`]),
        status: 400,
      },
      {
        name: 'a request line that is not HTTP',
        request: `${MARKER} /healthz HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n`,
        status: 400,
      },
      {
        name: 'a public route, upstream without caching headers',
        request: requestText(`/pub/${MARKER}${query}`, [marker]),
        status: 200,
        kind: 'upstream',
      },
      {
        name: 'a public route, upstream with its own caching',
        request: requestText(`/cached/${MARKER}${query}`, [marker]),
        status: 200,
        kind: 'upstream',
      },
      {
        name: 'a session route without a session',
        request: requestText(`/app/${MARKER}${query}`, [marker]),
        status: 401,
      },
      {
        name: 'an upstream that is down',
        request: requestText(`/down/${MARKER}${query}`, [marker]),
        status: 502,
      },
    ];
  }

  /** What is wrong with `response` to a probe of `kind`, as sentences; none when it is right. */
  function problems(response: RawResponse, kind: Kind): string[] {
    const found: string[] = [];
    const header = (name: string) => response.headers[name]?.join(', ');
    if (header('x-content-type-options') !== 'nosniff') found.push('no nosniff');
    if (!/^[\w.-]+$/.test(header('x-request-id') ?? '')) found.push('no request id');
    const caching = header('cache-control');
    if (kind === 'gateway' && caching !== 'no-store') found.push(`cache-control ${caching}`);
    if (kind === 'jwks' && caching !== 'public, max-age=300')
      found.push(`cache-control ${caching}`);
    if (response.status >= 400) {
      const error = (response.json as { error?: { code?: unknown; message?: unknown } })?.error;
      if (!/^ERR_[A-Z_]+$/.test(String(error?.code)) || typeof error?.message !== 'string')
        found.push(`not the error shape: ${response.body.slice(0, 120)}`);
      if (Object.keys(response.json as object).length !== 1) found.push('fields beside error');
      if (!header('content-type')?.startsWith('application/json')) found.push('not JSON');
      if (response.body.includes(MARKER)) found.push('echoes the marker');
    }
    return found;
  }

  it('carries nosniff and a request id; the gateway’s own no-store; errors JSON that echoes nothing', async () => {
    const report: string[] = [];
    for (const probe of probes()) {
      const response = await rawRequest(target.port, probe.request);
      const wrong = problems(response, probe.kind ?? 'gateway');
      if (response.status !== probe.status) wrong.unshift(`status ${response.status}`);
      if (wrong.length > 0) report.push(`${probe.name}: ${wrong.join('; ')}`);
    }
    expect(report).toEqual([]);
  });

  it('leaves an upstream’s caching as the upstream set it', async () => {
    const plain = await rawRequest(target.port, requestText('/pub/x'));
    expect(plain.headers['cache-control']).toBeUndefined();
    const cached = await rawRequest(target.port, requestText('/cached/x'));
    expect(cached.headers['cache-control']).toEqual([UPSTREAM_CACHING]);
  });

  it('keeps an upstream’s own X-Content-Type-Options', async () => {
    const upstream = target.upstreams.plain;
    if (!upstream) throw new Error('no upstream');
    upstream.responseHeaders['x-content-type-options'] = 'nosniff, upstream';
    try {
      const response = await rawRequest(target.port, requestText('/pub/x'));
      expect(response.headers['x-content-type-options']).toEqual(['nosniff, upstream']);
    } finally {
      delete upstream.responseHeaders['x-content-type-options'];
    }
  });
});

describe('while the gateway closes', () => {
  it('a request still arriving gets a JSON 503 with a request id, and the connection closes', async () => {
    const target = await startTarget();
    try {
      const accepted: Socket[] = [];
      target.gateway.app.server.on('connection', (socket: Socket) => accepted.push(socket));
      const client = connect(target.port, '127.0.0.1');
      const response = readRawResponse(client);
      // Half a request, so that the connection is busy, not idle, when closing begins.
      const head = `GET /healthz?${MARKER} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
      client.write(head);
      await until(() => accepted[0]?.bytesRead === Buffer.byteLength(head));
      const closed = target.gateway.close();
      await until(() => !target.gateway.app.server.listening);
      client.write(`X-Marker: ${MARKER}\r\n\r\n`);
      const refused = await response;
      await closed;
      expect(refused.status).toBe(503);
      expect(refused.json).toEqual({
        error: { code: 'ERR_SHUTTING_DOWN', message: expect.any(String) },
      });
      expect(refused.headers['x-request-id']?.[0]).toMatch(/^[\w-]+$/);
      expect(refused.headers['x-content-type-options']).toEqual(['nosniff']);
      expect(refused.headers['cache-control']).toEqual(['no-store']);
      expect(refused.headers.connection).toEqual(['close']);
    } finally {
      await target.close();
    }
  });
});

/** Resolves once `condition` holds, checking between turns of the event loop. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 2));
}
