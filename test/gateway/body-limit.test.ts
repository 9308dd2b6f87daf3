import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway, type Gateway, parseConfig } from '../../src/gateway/index.js';

const MiB = 1024 * 1024;
const running: Gateway[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((gateway) => gateway.close()));
});

async function start() {
  const adminToken = randomBytes(32).toString('base64url');
  const gateway = await createGateway(
    parseConfig({ port: 0, store: 'memory:', adminToken, logLevel: 'silent' }),
  );
  running.push(gateway);
  const url = await gateway.listen();
  return { url, port: Number(new URL(url).port), adminToken };
}

/**
 * Sends a `size`-byte body to `path` as fast as the socket takes it, and
 * reads whatever comes back: the response text, and the socket error if the
 * connection was reset under the upload.
 */
function upload(port: number, path: string, size: number, headers: readonly string[]) {
  return new Promise<{ response: string; error: string | null }>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let response = '';
    let error: string | null = null;
    socket.on('data', (chunk) => {
      response += chunk.toString('latin1');
    });
    socket.on('error', (failure: NodeJS.ErrnoException) => {
      error = failure.code ?? failure.message;
    });
    socket.on('close', () => resolve({ response, error }));
    socket.write(
      [
        `POST ${path} HTTP/1.1`,
        'Host: 127.0.0.1',
        'Content-Type: application/json',
        `Content-Length: ${size}`,
        ...headers,
        '',
        '',
      ].join('\r\n'),
    );
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const pump = () => {
      while (sent < size && !socket.destroyed) {
        const piece = chunk.subarray(0, Math.min(chunk.length, size - sent));
        sent += piece.length;
        if (!socket.write(piece)) return socket.once('drain', pump);
      }
    };
    pump();
  });
}

describe('a body over the limit', () => {
  it('gets its 413 JSON, not a connection reset, while the client is still sending', async () => {
    const { port, adminToken } = await start();
    for (const [path, headers] of [
      ['/v1/sessions', [`Authorization: Bearer ${adminToken}`]],
      ['/auth/login', []],
    ] as const) {
      const { response, error } = await upload(port, path, 20 * MiB, headers);
      expect(error, path).toBeNull();
      expect(response, path).toMatch(/^HTTP\/1\.1 413 /);
      expect(response, path).toContain('"code":"ERR_BODY_TOO_LARGE"');
    }
  });

  it('reaches fetch as a 413 JSON response', async () => {
    const { url, adminToken } = await start();
    for (let attempt = 0; attempt < 5; attempt++) {
      const response = await fetch(`${url}/v1/sessions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 'alice', data: { blob: 'x'.repeat(5 * MiB) } }),
      });
      expect(response.status).toBe(413);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
        'ERR_BODY_TOO_LARGE',
      );
    }
  });
});
