import { type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { Transform } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyServerOptions } from 'fastify';
import { HttpError, toErrorResponse } from '../http/index.js';

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
 * The Fastify options for the whole-request deadline: Node's own
 * `requestTimeout` (it counts from the first byte of the request, headers
 * included, which no hook can see), answered as this API's JSON error
 * instead of Node's bare 408.
 */
export function requestTimeoutServerOptions(
  timeouts: RequestTimeouts,
): Pick<FastifyServerOptions, 'requestTimeout' | 'clientErrorHandler'> {
  return { requestTimeout: timeouts.requestTimeout, clientErrorHandler: answerClientError };
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

  app.addHook('preParsing', async (request, reply, payload) => {
    if (!hasBody(request.raw)) return payload;
    return watchedBody(request.raw, reply, timeouts.bodyTimeout);
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

/**
 * Fastify's `clientErrorHandler`: Node's deadlines and parse failures as this
 * API's JSON errors, written straight to the socket (no request exists yet,
 * or the one in flight has not answered), then the connection is closed.
 */
function answerClientError(
  this: FastifyInstance,
  error: Error & { code?: string },
  socket: Socket,
): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  this.log.debug({ err: error }, 'client error');
  // Node's own check: a response already started on this socket must not get a second status line.
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const { status, body } = toErrorResponse(clientErrorOf(error));
    const text = JSON.stringify(body);
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${text}`,
    );
  }
  socket.destroy(error);
}

function clientErrorOf(error: Error & { code?: string }): HttpError {
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return new RequestTimeoutError('the request did not arrive in time');
  if (error.code === 'HPE_HEADER_OVERFLOW')
    return new HttpError('ERR_HEADERS_TOO_LARGE', 'the request headers are too large');
  return new HttpError('ERR_REQUEST_MALFORMED', 'the request is not valid HTTP');
}
