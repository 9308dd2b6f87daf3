import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type {
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifyServerOptions,
} from 'fastify';
import { HttpError, toErrorResponse } from '../http/index.js';
import { REQUEST_ID_HEADER } from './logging.js';
import { RequestTimeoutError } from './request-timeouts.js';
import { ownResponseHeaders } from './response-headers.js';

type ClientErrorHandler = NonNullable<FastifyServerOptions['clientErrorHandler']>;

/**
 * Server options that answer the errors raised before a request reaches a
 * route like every other error: the `{ "error": { code, message } }` body, a
 * request id, nosniff and no-store, and nothing quoted from the request.
 * Fastify's router raises a malformed percent-encoding (400) and an overlong
 * path parameter (414); Node's HTTP parser a malformed request line or header
 * (400), headers too large (431) and a request too slow to arrive (408).
 */
export function protocolErrorOptions(): Pick<
  FastifyServerOptions,
  'frameworkErrors' | 'clientErrorHandler'
> {
  return { frameworkErrors: answerRouterError, clientErrorHandler: answerUnparsableRequest };
}

function answerRouterError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const { status, body } = toErrorResponse(error);
  if (status >= 500) request.log.error({ err: error }, 'request failed');
  // Fastify runs no hooks for these replies, so the headers are set here.
  return reply
    .code(status)
    .headers({ ...ownResponseHeaders(), [REQUEST_ID_HEADER]: request.id })
    .type('application/json; charset=utf-8')
    .send(JSON.stringify(body));
}

/** What the parser's error codes are answered with; anything else is a malformed request. */
const REFUSAL_BY_PARSER_CODE: Record<string, HttpError> = {
  HPE_HEADER_OVERFLOW: new HttpError('ERR_HEADERS_TOO_LARGE', 'the request headers are too large'),
  ERR_HTTP_REQUEST_TIMEOUT: new RequestTimeoutError('the request did not arrive in time'),
};
const MALFORMED = new HttpError('ERR_REQUEST_MALFORMED', 'the request is not well-formed HTTP');

/**
 * Node's `clientError`: the request could not be parsed, so no route, hook
 * or request id exists yet. Answers with a fresh request id, logged with the
 * parser's code only (its error holds the raw bytes, credentials included),
 * and closes the connection.
 */
const answerUnparsableRequest: ClientErrorHandler = function (
  this: FastifyInstance,
  error,
  socket,
) {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const requestId = randomUUID();
  const { status, body } = toErrorResponse(REFUSAL_BY_PARSER_CODE[error.code ?? ''] ?? MALFORMED);
  this.log.info({ reqId: requestId, code: error.code, status }, 'malformed request refused');
  if (!socket.writable || responseStarted(socket)) {
    socket.destroy();
    return;
  }
  const payload = JSON.stringify(body);
  const headers = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(payload)),
    [REQUEST_ID_HEADER]: requestId,
    ...ownResponseHeaders(),
    connection: 'close',
  };
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${head.join('')}\r\n${payload}`, () =>
    socket.destroy(),
  );
};

/**
 * Whether a response on this connection has begun: writing another would
 * corrupt it. Node keeps the one in progress on the socket, as its own
 * clientError default checks.
 */
function responseStarted(socket: Socket): boolean {
  const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  return inProgress?.headersSent === true;
}
