import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyRequest, FastifyServerOptions } from 'fastify';

/** Fastify's `logger` option in its object form: Fastify's fields and pino's. */
export type GatewayLoggerOptions = Exclude<FastifyServerOptions['logger'], boolean | undefined>;

/** The header a request id arrives in and is echoed back in. */
export const REQUEST_ID_HEADER = 'x-request-id';

/** An incoming id is kept only in this shape; anything else could forge or break log lines. */
const WELL_FORMED_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** What stands in for a secret in log lines. */
export const REDACTED = '[Redacted]';

/** Headers that carry credentials: session cookies, bearer tokens, API keys, CSRF tokens, the signed upstream context. */
const SECRET_HEADERS = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'x-csrf-token',
  'x-clawsession-context',
];

/**
 * Query parameters whose values are secrets: names ending in token, key,
 * secret, password, signature or csrf (any case: `access_token`, `apiKey`,
 * `_csrf`), and OAuth's `code` and signed URLs' `sig`.
 */
const SECRET_QUERY_NAME = /(?:token|key|secret|password|signature|csrf)$|^(?:code|sig)$/i;

/**
 * Fastify logger options for the gateway: pino's JSON lines at `level`, with
 * credential headers redacted wherever a log call puts headers, at the top or
 * one level down (Fastify's own request line logs none, but a
 * `request.log.info({ headers })` would), and the values of secret query
 * parameters replaced in the logged request URL and in message strings. A
 * URL put into a log call's object under another key is not scrubbed: log
 * `{ req: request }` instead.
 */
export function loggerOptions(level: string): GatewayLoggerOptions {
  return {
    level,
    redact: {
      paths: SECRET_HEADERS.flatMap((name) => [`headers["${name}"]`, `*.headers["${name}"]`]),
      censor: REDACTED,
    },
    serializers: { req: serializeRequest },
    hooks: {
      // Messages can quote URLs too: Fastify's default 404 handler logs `Route GET:<url> not found`.
      logMethod(args, method) {
        const scrubbed = args.map((arg) =>
          typeof arg === 'string' ? redactQuerySecrets(arg) : arg,
        ) as typeof args;
        return method.apply(this, scrubbed);
      },
    },
  };
}

/**
 * Server options that take a well-formed `x-request-id` from the client (or
 * the proxy in front) as the request id and make a random UUID otherwise.
 * Pair with `echoRequestId`.
 */
export function requestIdOptions(): Pick<FastifyServerOptions, 'genReqId' | 'requestIdHeader'> {
  return {
    requestIdHeader: false,
    genReqId: (request: IncomingMessage) => {
      const incoming = request.headers[REQUEST_ID_HEADER];
      return typeof incoming === 'string' && WELL_FORMED_REQUEST_ID.test(incoming)
        ? incoming
        : randomUUID();
    },
  };
}

/** Sends every response's request id back in `x-request-id`, so a client can quote it. */
export function echoRequestId(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id);
  });
}

/** Fastify's request fields, with the secret query values of the URL replaced. */
function serializeRequest(request: FastifyRequest) {
  return {
    method: request.method,
    url: typeof request.url === 'string' ? redactQuerySecrets(request.url) : undefined,
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

/** `name=value` after a `?` or `&`, up to the next separator, fragment or whitespace. */
const QUERY_PAIR = /([?&])([^=&#\s]+)=([^&#\s]*)/g;

/**
 * `text` (a URL, or a message that quotes one) with the value of every
 * secret query parameter replaced; the rest byte for byte.
 */
export function redactQuerySecrets(text: string): string {
  return text.replace(QUERY_PAIR, (pair: string, separator: string, name: string) =>
    SECRET_QUERY_NAME.test(decodeName(name)) ? `${separator}${name}=${REDACTED}` : pair,
  );
}

/** A query name as the application reads it (`acc%65ss_token`, `access+token`), or as is if malformed. */
function decodeName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' ')).trim();
  } catch {
    return name;
  }
}
