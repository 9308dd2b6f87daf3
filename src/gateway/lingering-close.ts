import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';

/** How much of an unwanted body is read and dropped before the connection closes anyway. */
const LINGER_MAX_BYTES = 32 * 1024 * 1024;
const LINGER_MAX_MS = 5_000;

/**
 * Lingering close, as nginx does it: when the gateway answers before the
 * request body has arrived (a 413, a refused body) and closes the
 * connection, the body still on the wire would make the kernel reset the
 * connection, and the client would see the reset instead of the answer. So
 * the rest of the body is read and dropped first, up to LINGER_MAX_BYTES or
 * LINGER_MAX_MS; past either bound the connection closes as before.
 */
export function registerLingeringClose(app: FastifyInstance): void {
  app.addHook('onSend', (request, reply, payload, done) => {
    // A 408 is for a client too slow to wait for; any other early answer waits for the rest of the body.
    if (
      !request.raw.complete &&
      reply.getHeader('connection') === 'close' &&
      reply.statusCode !== 408
    )
      void dropRestOfBody(request.raw).then(() => done(null, payload));
    else done(null, payload);
  });
}

function dropRestOfBody(body: IncomingMessage): Promise<void> {
  if (body.complete || body.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let received = 0;
    const finish = () => {
      clearTimeout(timer);
      body.off('data', count);
      body.off('end', finish);
      body.off('close', finish);
      resolve();
    };
    const count = (chunk: Buffer) => {
      received += chunk.length;
      if (received > LINGER_MAX_BYTES) finish();
    };
    const timer = setTimeout(finish, LINGER_MAX_MS);
    body.on('data', count);
    body.once('end', finish);
    body.once('close', finish);
    // Whoever was reading the body (a preParsing stream) has given up on it; nothing may hold it back now.
    body.unpipe();
    body.resume();
  });
}
