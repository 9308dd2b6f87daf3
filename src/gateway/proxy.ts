import type { IncomingHttpHeaders } from 'node:http';
import replyFrom from '@fastify/reply-from';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ConfigError } from '../core/index.js';
import { HttpError, toErrorResponse } from '../http/index.js';
import type { IdentityContexts } from '../tokens/index.js';
import type { Authenticate } from './identity.js';
import { forwardedRequestHeaders, forwardedResponseHeaders } from './proxy-headers.js';
import {
  type CompiledRoute,
  compileRoutes,
  type ProxyRoute,
  routerPaths,
  upstreamUrlFor,
} from './proxy-routes.js';
import { markAnsweredUpstream } from './response-headers.js';

export type { ProxyRoute } from './proxy-routes.js';

export interface ProxyOptions {
  routes: ProxyRoute[];
  /** Who the request is for, or null (401). May answer the request itself (e.g. a CSRF 403). */
  authenticate: Authenticate;
  /** Signs the `X-Clawsession-Context` sent to upstreams on session routes. */
  contexts: IdentityContexts;
  /** The session cookie's name: removed from the Cookie header of every forwarded request. */
  sessionCookieName: string;
  /** How long an upstream may take to send its headers, or to send more of its body, in ms. Default 30 s. */
  timeout?: number;
  /** Keep-alive connections per upstream origin. Default 128. */
  connections?: number;
  /** More request headers never to forward. */
  stripHeaders?: string[];
  /** Told of every request that was sent upstream: its route prefix and the status the client got. */
  onUpstreamResponse?: (prefix: string, status: number) => void;
}

/**
 * The gateway's reverse proxy: each route's prefix (the longest that matches
 * wins) is forwarded, any method, query as sent, bodies streamed both ways,
 * over keep-alive pools. Session routes require `authenticate` and carry a
 * signed identity context instead of the client's credential. An upstream
 * that cannot be reached answers 502, one too slow 504, both as JSON.
 */
export function registerProxy(app: FastifyInstance, options: ProxyOptions): void {
  const routes = compileRoutes(options.routes);
  const timeout = positiveInteger(options.timeout ?? 30_000, 'timeout');
  const connections = positiveInteger(options.connections ?? 128, 'connections');
  if (typeof options.sessionCookieName !== 'string' || options.sessionCookieName === '')
    throw new ConfigError('sessionCookieName is required: it is stripped before forwarding');
  const stripHeaders = new Set((options.stripHeaders ?? []).map((name) => name.toLowerCase()));
  /** Requests sent upstream, by their route's prefix: refusals of the gateway's own are not upstream responses. */
  const forwarded = new WeakMap<FastifyRequest, string>();

  app.register(async (scope) => {
    await scope.register(replyFrom, {
      undici: { connections },
      disableCache: true,
      disableRequestLogging: true,
    });
    // Every body goes upstream as the raw stream, unparsed and unbuffered (and not capped by bodyLimit).
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    scope.setErrorHandler((error, request, reply) => {
      // A session that vanished mid-request means the caller is no longer signed in.
      const { status, body } = toErrorResponse(error, { ERR_SESSION_NOT_FOUND: 401 });
      if (status >= 500) request.log.error({ err: error }, 'proxied request failed');
      return reply.code(status).send(body);
    });

    const onUpstreamResponse = options.onUpstreamResponse;
    if (onUpstreamResponse) {
      scope.addHook('onResponse', async (request, reply) => {
        const prefix = forwarded.get(request);
        if (prefix !== undefined) onUpstreamResponse(prefix, reply.statusCode);
      });
    }

    for (const route of routes) {
      const handler = (request: FastifyRequest, reply: FastifyReply) =>
        forward(route, request, reply);
      for (const url of routerPaths(route)) scope.all(url, handler);
    }
  });

  async function forward(route: CompiledRoute, request: FastifyRequest, reply: FastifyReply) {
    const target = upstreamUrlFor(route, request.url);
    if (target === null) {
      return refuse(reply, new HttpError('ERR_ROUTE_NOT_FOUND', 'no route for this path'));
    }
    let context: string | null = null;
    if (route.auth === 'session') {
      const identity = await options.authenticate(request, reply);
      if (reply.sent) return reply;
      if (identity === null) {
        reply.header('www-authenticate', 'Bearer realm="clawsession"');
        return refuse(
          reply,
          new HttpError('ERR_UNAUTHORIZED', 'a live session or access token is required'),
        );
      }
      context = await options.contexts.sign(identity, { audience: route.audience });
    }
    const facts = {
      auth: route.auth,
      context,
      sessionCookieName: options.sessionCookieName,
      stripHeaders,
      clientIp: request.ip,
      protocol: request.protocol,
      host: request.host,
      requestId: request.id,
    };
    forwarded.set(request, route.prefix);
    return reply.from(target, {
      timeout,
      // An upstream's 503 is its answer to pass on, not a reason to send the request again.
      retryDelay: () => null,
      rewriteRequestHeaders: (_request, headers) =>
        forwardedRequestHeaders(headers as IncomingHttpHeaders, facts),
      rewriteHeaders: (headers) => {
        markAnsweredUpstream(request);
        return forwardedResponseHeaders(headers as IncomingHttpHeaders);
      },
      onError: (failedReply, { error }) => {
        const { status, body } = toErrorResponse(upstreamFailure(error));
        failedReply.code(status).send(body);
      },
    });
  }
}

function refuse(reply: FastifyReply, error: HttpError): FastifyReply {
  const { status, body } = toErrorResponse(error);
  return reply.code(status).send(body);
}

/** reply-from's errors carry the status it would answer: 504 for every kind of timeout. */
function upstreamFailure(error: Error & { statusCode?: number }): HttpError {
  return error.statusCode === 504
    ? new HttpError('ERR_UPSTREAM_TIMEOUT', 'the upstream service did not answer in time')
    : new HttpError('ERR_UPSTREAM_UNAVAILABLE', 'the upstream service could not be reached');
}

function positiveInteger(value: number, name: string): number {
  if (!(Number.isSafeInteger(value) && value > 0))
    throw new ConfigError(`${name} must be a positive integer`);
  return value;
}
