import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/core/index.js';
import {
  AuthUpstreamUnavailableError,
  UpstreamCredentials,
} from '../../../src/gateway/auth/index.js';

interface Received {
  method: string;
  headers: IncomingMessage['headers'];
  body: string;
}

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** A real auth service on 127.0.0.1 that answers with `respond` and records what it received. */
async function authService(respond: (received: Received, response: ServerResponse) => void) {
  const received: Received[] = [];
  const server = createServer(async (request, response) => {
    let body = '';
    for await (const chunk of request) body += chunk;
    const entry = { method: request.method ?? '', headers: request.headers, body };
    received.push(entry);
    respond(entry, response);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  servers.push({ close });
  return { url: `http://127.0.0.1:${port}/check`, received, close };
}

function json(response: ServerResponse, status: number, body: unknown) {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

describe('UpstreamCredentials', () => {
  it('posts the credentials as JSON and takes a 200 user as a success', async () => {
    const service = await authService((_received, response) =>
      json(response, 200, { user: { id: 'u-42', roles: ['admin', 'ops'], name: 'Alice' } }),
    );
    const credentials = new UpstreamCredentials({
      url: service.url,
      headers: { authorization: 'Bearer gateway-secret' },
    });
    expect(await credentials.verify('alice', 's3cret pass')).toEqual({
      userId: 'u-42',
      roles: ['admin', 'ops'],
    });
    const [received] = service.received;
    expect(received?.method).toBe('POST');
    expect(received?.headers['content-type']).toBe('application/json');
    expect(received?.headers.authorization).toBe('Bearer gateway-secret');
    expect(JSON.parse(received?.body ?? '')).toEqual({
      username: 'alice',
      password: 's3cret pass',
    });
  });

  it('gives no roles when the service names none', async () => {
    const service = await authService((_r, response) => json(response, 200, { user: { id: 'u' } }));
    expect(await new UpstreamCredentials({ url: service.url }).verify('a', 'b')).toEqual({
      userId: 'u',
      roles: [],
    });
  });

  it.each([401, 403])('takes %i as a failed login', async (status) => {
    const service = await authService((_r, response) =>
      json(response, status, { error: 'invalid credentials' }),
    );
    expect(await new UpstreamCredentials({ url: service.url }).verify('alice', 'nope')).toBeNull();
  });

  it.each([
    ['a server error', (response: ServerResponse) => json(response, 500, { error: 'boom' })],
    ['a 404', (response: ServerResponse) => json(response, 404, {})],
    [
      'a redirect',
      (response: ServerResponse) => response.writeHead(302, { location: '/elsewhere' }).end(),
    ],
    ['a 200 that is not JSON', (response: ServerResponse) => response.writeHead(200).end('<html>')],
    ['a 200 without a user', (response: ServerResponse) => json(response, 200, { ok: true })],
    [
      'a 200 with an empty user id',
      (response: ServerResponse) => json(response, 200, { user: { id: '' } }),
    ],
    [
      'a 200 with malformed roles',
      (response: ServerResponse) =>
        json(response, 200, { user: { id: 'u', roles: ['has space'] } }),
    ],
    [
      'an answer over 64 KiB',
      (response: ServerResponse) =>
        json(response, 200, { user: { id: 'u' }, pad: 'x'.repeat(70_000) }),
    ],
  ])('takes %s as an unavailable service, not a failed login', async (_what, respond) => {
    const service = await authService((_r, response) => respond(response));
    await expect(
      new UpstreamCredentials({ url: service.url }).verify('alice', 'pw'),
    ).rejects.toMatchObject({ code: 'ERR_AUTH_UPSTREAM_UNAVAILABLE' });
  });

  it('gives up after the timeout', async () => {
    const service = await authService(() => {
      // never answers
    });
    const credentials = new UpstreamCredentials({ url: service.url, timeout: 100 });
    const error = await credentials.verify('alice', 'pw').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthUpstreamUnavailableError);
    expect((error as Error).message).toContain('within 100 ms');
  });

  it('is unavailable when nothing listens', async () => {
    const service = await authService((_r, response) => json(response, 200, {}));
    await service.close();
    await expect(
      new UpstreamCredentials({ url: service.url }).verify('alice', 'pw'),
    ).rejects.toBeInstanceOf(AuthUpstreamUnavailableError);
  });

  it('refuses a URL that is not http(s) and a bad timeout', () => {
    expect(() => new UpstreamCredentials({ url: 'ftp://auth.internal/check' })).toThrow(
      ConfigError,
    );
    expect(() => new UpstreamCredentials({ url: 'not a url' })).toThrow(ConfigError);
    expect(() => new UpstreamCredentials({ url: 'http://127.0.0.1/', timeout: 0 })).toThrow(
      ConfigError,
    );
  });
});
