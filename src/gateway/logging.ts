import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyRequest, FastifyServerOptions } from 'fastify';
import pino from 'pino';

/** Fastify's `logger` option in its object form: Fastify's fields and pino's. */
export type GatewayLoggerOptions = Exclude<FastifyServerOptions['logger'], boolean | undefined>;

/** The header a request id arrives in and is echoed back in. */
export const REQUEST_ID_HEADER = 'x-request-id';

/** An incoming id is kept only in this shape; anything else could forge or break log lines. */
const WELL_FORMED_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** What stands in for a secret in log lines. */
export const REDACTED = '[Redacted]';

/** Headers that carry credentials: session cookies, bearer tokens, API keys, CSRF tokens, the signed upstream context. */
const SECRET_HEADERS = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'x-csrf-token',
  'x-clawsession-context',
]);

/**
 * Words that make a query parameter secret wherever they appear in its
 * normalised name (`access_token`, `X-Amz-Credential`, `client_secret`,
 * `jsessionid`, `user[password]`).
 */
const SECRET_STEMS = [
  'token',
  'secret',
  'passw',
  'passphrase',
  'pwd',
  'signature',
  'csrf',
  'xsrf',
  'credential',
  'session',
  'bearer',
  'authoriz',
  'apikey',
  'private',
  'jwt',
  'cookie',
  'hmac',
  'assertion',
  'ticket',
];

/**
 * Short words that make a parameter secret at the end of a name only, where
 * anywhere would catch ordinary words (`author`, `footprint`, `passenger`):
 * `key`, `api-key`, `sig`, `auth`, `oauth`, `sid`, `phpsessid`, `otp`,
 * `totp`, `pass`, `code`, `auth_code`, `pin`.
 */
const SECRET_SUFFIXES = ['key', 'sig', 'auth', 'sid', 'otp', 'pass', 'code', 'pin'];

/**
 * Where the gateway's log lines go by default: stdout, written without
 * blocking the event loop (a slow log reader must not slow requests), and
 * flushed when the process exits. Lines are gathered up to 4 KiB and written
 * together, or every 250 ms when fewer come: one write per line cost the
 * gateway a twentieth of its session reads under load.
 */
export function asyncStdout(): pino.DestinationStream {
  return pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 250 });
}

/**
 * Fastify logger options for the gateway: pino's JSON lines at `level`, times
 * in ISO 8601, with credential headers redacted wherever a log call puts
 * headers, at the top or one level down (Fastify's own request line logs
 * none, but a `request.log.info({ headers })` would), and the values of
 * secret query parameters replaced in the logged request URL and in message
 * strings. A URL put into a log call's object under another key is not
 * scrubbed: log `{ req: request }` instead.
 *
 * Headers are redacted by a formatter rather than pino's `redact` paths:
 * those walk every log object and every child logger's bindings (one per
 * request) with wildcard paths, which cost the gateway more than a tenth of
 * its throughput; the formatter looks at the few keys a line has.
 */
export function loggerOptions(level: string): GatewayLoggerOptions {
  return {
    level,
    timestamp: isoTimeOfThisMillisecond,
    serializers: { req: serializeRequest },
    formatters: { log: withoutSecretHeaders, bindings: withoutSecretHeaders },
    hooks: {
      // Messages can quote URLs too: Fastify's default 404 handler logs `Route GET:<url> not found`.
      logMethod(args, method) {
        // Most lines quote no URL ("request"): they go through as they are, without a copy.
        if (!args.some((arg) => typeof arg === 'string' && arg.includes('=')))
          return method.apply(this, args);
        const scrubbed = args.map((arg) =>
          typeof arg === 'string' ? redactQuerySecrets(arg) : arg,
        ) as typeof args;
        return method.apply(this, scrubbed);
      },
    },
  };
}

let timeMs = Number.NaN;
let timeField = '';

/**
 * pino's ISO time field, formatted once per millisecond: a busy gateway
 * writes several lines in each, and formatting a date per line showed in its
 * profile.
 */
function isoTimeOfThisMillisecond(): string {
  const now = Date.now();
  if (now !== timeMs) {
    timeMs = now;
    timeField = `,"time":"${new Date(now).toISOString()}"`;
  }
  return timeField;
}

/** Keys whose serializer decides what is logged of them; their objects are left alone here. */
const SERIALIZED_KEYS = new Set(['req', 'res', 'err']);

/**
 * A log object with the secret headers of `headers`, and of `<key>.headers`
 * one level down, replaced; the object itself is never changed, and one
 * without secret headers is returned as it is.
 */
function withoutSecretHeaders(object: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key in object) {
    const value = object[key];
    let redacted: unknown;
    if (key === 'headers') redacted = redactedHeaders(value);
    else if (isPlainObject(value) && !SERIALIZED_KEYS.has(key)) {
      const headers = redactedHeaders(value.headers);
      if (headers !== value.headers) redacted = { ...value, headers };
    }
    if (redacted === undefined || redacted === value) continue;
    copy ??= { ...object };
    copy[key] = redacted;
  }
  return copy ?? object;
}

/** `headers` with the values of credential headers replaced, or `headers` itself when it has none. */
function redactedHeaders(headers: unknown): unknown {
  if (!isPlainObject(headers)) return headers;
  let copy: Record<string, unknown> | undefined;
  for (const name in headers) {
    if (!SECRET_HEADERS.has(name.toLowerCase())) continue;
    copy ??= { ...headers };
    copy[name] = REDACTED;
  }
  return copy ?? headers;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
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
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    done(null, payload);
  });
}

/** Fastify's request fields, with the secret query values of the URL replaced. */
function serializeRequest(request: FastifyRequest) {
  const sent = request.originalUrl;
  return {
    method: request.method,
    url: typeof request.url === 'string' ? redactQuerySecrets(request.url) : undefined,
    // The target as sent, when normalising changed or refused it: what an operator needs to see.
    ...(typeof sent === 'string' && sent !== request.url
      ? { originalUrl: redactQuerySecrets(sent) }
      : {}),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

/**
 * `name=value` after a `?`, `&` or `;` (matrix parameters such as
 * `;jsessionid=`), its value up to the next `&`, fragment or whitespace.
 */
const QUERY_PAIR = /([?&;])([^=&;#\s]+)=([^&#\s]*)/g;

/**
 * `text` (a URL, or a message that quotes one) with the value of every
 * secret query parameter replaced; the rest byte for byte. A value that is
 * not secret is scanned again, for `;name=value` pairs inside it.
 */
export function redactQuerySecrets(text: string): string {
  return text.replace(
    QUERY_PAIR,
    (_pair: string, separator: string, name: string, value: string) =>
      isSecretQueryName(name)
        ? `${separator}${name}=${REDACTED}`
        : `${separator}${name}=${redactQuerySecrets(value)}`,
  );
}

/**
 * Whether a query parameter's name, as any application might read it, names
 * a secret: percent-escapes and `+` decoded, Unicode compatibility forms
 * folded, lower-cased, split at brackets and dots (`token[]`, `a[token]`,
 * `access_token[0]`, `a.token`), and each part stripped of separators and of
 * a trailing index (`api-key`, `API_KEY2`) before it is matched against the
 * stems and suffixes.
 */
function isSecretQueryName(name: string): boolean {
  return decodedName(name)
    .normalize('NFKC')
    .toLowerCase()
    .split(/[[\].]/)
    .map((part) => part.replace(/[^a-z0-9]/g, '').replace(/[0-9]+$/, ''))
    .some(
      (part) =>
        part !== '' &&
        (SECRET_STEMS.some((stem) => part.includes(stem)) ||
          SECRET_SUFFIXES.some((suffix) => part.endsWith(suffix))),
    );
}

/**
 * `name` percent-decoded until it no longer changes (a layer behind may
 * decode again), a malformed escape decoding what it can.
 */
function decodedName(name: string): string {
  let decoded = name.replace(/\+/g, ' ');
  for (let round = 0; round < 4; round++) {
    const next = decodeLeniently(decoded);
    if (next === decoded) break;
    decoded = next;
  }
  return decoded;
}

function decodeLeniently(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    // Names are matched on ASCII words: decoding the ASCII escapes is enough.
    return text.replace(/%([0-7][0-9a-f])/gi, (_escape, hex: string) =>
      String.fromCharCode(Number.parseInt(hex, 16)),
    );
  }
}
