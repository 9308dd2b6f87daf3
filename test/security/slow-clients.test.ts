import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { GatewayConfigInput } from '../../src/gateway/index.js';
import {
  type AttackTarget,
  openRawConnection,
  type RawConnection,
  startAttackTarget,
} from './support.js';

const running: AttackTarget[] = [];
const connections: RawConnection[] = [];
afterEach(async () => {
  for (const connection of connections.splice(0)) connection.destroy();
  await Promise.all(running.splice(0).map((target) => target.close()));
});

/** A gateway with a public route `/api/` to the recording upstream and the given timeouts. */
async function start(config: GatewayConfigInput) {
  const target = await startAttackTarget({
    routes: ({ upstream }) => [{ prefix: '/api/', upstream: upstream?.url ?? '', auth: 'none' }],
    config,
  });
  running.push(target);
  return target;
}

function connect(target: AttackTarget): RawConnection {
  const connection = openRawConnection(target.port);
  connections.push(connection);
  return connection;
}

/** The head of a POST to `path` announcing a `length`-byte body. */
function postHead(path: string, length: number): string {
  return [
    `POST ${path} HTTP/1.1`,
    'Host: 127.0.0.1',
    'Content-Type: application/json',
    `Content-Length: ${length}`,
    '',
    '',
  ].join('\r\n');
}

const TIMED_OUT = { error: { code: 'ERR_REQUEST_TIMEOUT', message: expect.any(String) } };
const ROUTES = ['/auth/login', '/api/upload'];

describe('a request body that falls silent', () => {
  it.each(ROUTES)(
    'on %s, one byte then silence gets a 408 JSON error and the connection closes',
    async (path) => {
      const target = await start({ bodyTimeout: 300, requestTimeout: '1m' });
      const client = connect(target);
      client.write(`${postHead(path, 64)}{`);
      const response = await client.response;
      expect(response.status).toBe(408);
      expect(response.json).toEqual(TIMED_OUT);
      await client.closed;
    },
  );

  it('on a proxied route, the upstream request is aborted and its pool connection released', async () => {
    const target = await start({ bodyTimeout: 300, requestTimeout: '1m' });
    const upstream = target.upstreams.upstream;
    if (!upstream) throw new Error('no upstream');
    const client = connect(target);
    client.write(`${postHead('/api/upload', 64)}{`);
    expect((await client.response).status).toBe(408);
    await vi.waitFor(() => expect(upstream.aborted).toHaveLength(1));
    expect(upstream.aborted[0]).toMatchObject({ method: 'POST', url: '/api/upload', body: '{' });
    expect(upstream.hits).toEqual([]);
    await vi.waitFor(() => expect(upstream.connections.open).toBe(0));
  });
});

describe('a request that never finishes arriving', () => {
  it.each(ROUTES)(
    'on %s, a body trickled faster than bodyTimeout is still cut at requestTimeout',
    async (path) => {
      const target = await start({ bodyTimeout: '1m', requestTimeout: 500 });
      const client = connect(target);
      client.write(postHead(path, 4_000));
      let answered = false;
      const response = client.response.finally(() => {
        answered = true;
      });
      // Never silent for long, never done: only the whole-request deadline can end it.
      while (!answered) {
        client.write(' ');
        await sleep(50);
      }
      expect((await response).status).toBe(408);
      expect((await response).json).toEqual(TIMED_OUT);
      await client.closed;
    },
  );

  it('headers that stop half-way get a 408 JSON error too', async () => {
    const target = await start({ bodyTimeout: 300, requestTimeout: '1m' });
    const client = connect(target);
    client.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    const response = await client.response;
    expect(response.status).toBe(408);
    expect(response.json).toEqual(TIMED_OUT);
    await client.closed;
  });
});

describe('a slow but steady client within the limits', () => {
  /** Sends `body` after `head` in `parts` writes, `gap` ms apart. */
  async function trickle(client: RawConnection, head: string, body: string, parts: number) {
    client.write(head);
    const size = Math.ceil(body.length / parts);
    for (let at = 0; at < body.length; at += size) {
      await sleep(30);
      client.write(body.slice(at, at + size));
    }
  }

  it('logs in: the login is judged on its credentials, not refused as slow', async () => {
    const target = await start({ bodyTimeout: '2s', requestTimeout: '1m' });
    const body = JSON.stringify({ username: 'nobody', password: 'not the password' });
    const client = connect(target);
    await trickle(client, postHead('/auth/login', body.length), body, 8);
    const response = await client.response;
    expect(response.status).toBe(401);
    expect(response.json).toMatchObject({ error: { code: 'ERR_LOGIN_FAILED' } });
  });

  it('uploads through the proxy: the upstream receives the whole body', async () => {
    const target = await start({ bodyTimeout: '2s', requestTimeout: '1m' });
    const body = JSON.stringify({ items: Array.from({ length: 40 }, (_, i) => `item-${i}`) });
    const client = connect(target);
    await trickle(client, postHead('/api/upload', body.length), body, 10);
    const response = await client.response;
    expect(response.status).toBe(200);
    expect(target.upstreams.upstream?.hits.map((hit) => hit.body)).toEqual([body]);
  });
});
