import type { IncomingMessage, Server } from 'node:http';
import { Transform } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyServerOptions } from 'fastify';
import { HttpError } from '../http/index.js';

export interface RequestTimeouts {
  /** The longest a whole request, headers and body, may take to arrive, in ms. */
  requestTimeout: number;
  /** The longest silence between two chunks of a request body, in ms. */
  bodyTimeout: number;
}

/** A request that did not arrive in time: 408, and the connection is closed. */
export class RequestTimeoutError extends HttpError {
  constructor(message: string) {
    super('ERR_REQUEST_TIMEOUT', message);
  }
}

/** The RequestTimeoutError that `error` is or wraps (reply-from wraps its upstream's errors), or null. */
export function requestTimeoutOf(error: unknown): RequestTimeoutError | null {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    if (cause instanceof RequestTimeoutError) return cause;
  }
  return null;
}

/**
 * The Fastify option for the whole-request deadline: Node's own
 * `requestTimeout`, which counts from the first byte of the request, headers
 * included, where no hook can see it. Its 408 is answered as this API's JSON
 * error by `protocolErrorOptions`' client-error handler.
 */
export function requestTimeoutServerOptions(
  timeouts: RequestTimeouts,
): Pick<FastifyServerOptions, 'requestTimeout'> {
  return { requestTimeout: timeouts.requestTimeout };
}

/**
 * Bounds slow clients on `app`'s server (created with
 * `requestTimeoutServerOptions`): headers get no more than a body's silence
 * allowance (honest clients send them in one burst), Node checks its
 * deadlines often enough to keep them, and every request body that falls
 * silent for `bodyTimeout` is cut: the client gets a 408 JSON error when
 * nothing was sent yet, the connection closes, and whoever reads the body
 * (a route's parser, or the proxy streaming it upstream, which then aborts
 * the upstream request and frees its pool connection) sees a RequestTimeoutError.
 */
export function applyRequestTimeouts(app: FastifyInstance, timeouts: RequestTimeouts): void {
  const server: Server = app.server;
  server.headersTimeout = Math.min(timeouts.requestTimeout, timeouts.bodyTimeout);
  // Node checks deadlines every 30 s by default, late enough to double a 30 s timeout.
  const tightest = Math.min(server.headersTimeout, timeouts.requestTimeout);
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval =
    Math.max(10, Math.min(1_000, Math.floor(tightest / 4)));

  app.addHook('preParsing', (request, reply, payload, done) => {
    done(
      null,
      hasBody(request.raw) ? watchedBody(request.raw, reply, timeouts.bodyTimeout) : payload,
    );
  });
}

function hasBody(request: IncomingMessage): boolean {
  const length = request.headers['content-length'];
  return (
    request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
  );
}

/** `raw` passed through unchanged, cut with a RequestTimeoutError after `silence` ms without a chunk. */
function watchedBody(raw: IncomingMessage, reply: FastifyReply, silence: number): Transform {
  const body = new Transform({
    transform(chunk, _encoding, done) {
      timer.refresh();
      done(null, chunk);
    },
    flush(done) {
      clearTimeout(timer);
      done();
    },
  });
  const timer = setTimeout(() => {
    raw.unpipe(body);
    if (!reply.sent) reply.header('connection', 'close');
    body.destroy(new RequestTimeoutError(`no request body data for ${silence} ms`));
  }, silence);
  body.once('close', () => clearTimeout(timer));
  reply.raw.once('close', () => clearTimeout(timer));
  // pipe() does not pass errors on: a client that goes away must end the body's readers too.
  raw.once('error', (error) => body.destroy(error));
  raw.once('close', () => {
    if (!raw.complete)
      body.destroy(new Error('the client closed the request before its body ended'));
  });
  raw.pipe(body);
  return body;
}
