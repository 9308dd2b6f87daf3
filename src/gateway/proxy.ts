import type { IncomingHttpHeaders } from 'node:http';
import replyFrom from '@fastify/reply-from';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ConfigError } from '../core/index.js';
import { HttpError, normalizeRequestTarget, toErrorResponse } from '../http/index.js';
import type { IdentityContexts } from '../tokens/index.js';
import { noteUser } from './access-log.js';
import { isValidHost } from './host-header.js';
import { type Authenticate, REQUEST_ANSWERED } from './identity.js';
import { ownedCookies } from './proxy-cookies.js';
import { gatewayCredential } from './proxy-credentials.js';
import {
  canonicalHeaderName,
  forwardedRequestHeaders,
  forwardedResponseHeaders,
} from './proxy-headers.js';
import {
  compileRoutes,
  type ProxyRoute,
  routeFor,
  routerPaths,
  upstreamUrlFor,
} from './proxy-routes.js';
import { requestTimeoutOf } from './request-timeouts.js';
import { markAnsweredUpstream } from './response-headers.js';
import { proxyRouteLabel } from './route-label.js';

export type { ProxyRoute } from './proxy-routes.js';

export interface ProxyOptions {
  routes: ProxyRoute[];
  /** Who the request is for, or null (401). May answer the request itself (e.g. a CSRF 403). */
  authenticate: Authenticate;
  /** Signs the `X-Clawsession-Context` sent to upstreams on session routes. */
  contexts: IdentityContexts;
  /**
   * The session cookie's name: removed from the Cookie header of every
   * forwarded request, and no upstream may set or clear it.
   */
  sessionCookieName: string;
  /** The admin token, never forwarded in `Authorization`; null when it is turned off. */
  adminToken?: string | null;
  /** What `X-Forwarded-Host` always says, e.g. `gateway.example.com`; default the request's validated host. */
  publicHost?: string;
  /** How long an upstream may take to send its headers, or to send more of its body, in ms. Default 30 s. */
  timeout?: number;
  /** More request headers never to forward (matched as `_` and `-` alike, any case). */
  stripHeaders?: string[];
  /** Told of every request that was sent upstream: its route prefix and the status the client got. */
  onUpstreamResponse?: (prefix: string, status: number) => void;
  /** Told of every upstream Set-Cookie dropped for naming a gateway cookie, by route prefix. */
  onCookieDropped?: (prefix: string) => void;
}

/**
 * The gateway's reverse proxy: each route's prefix (the longest that matches
 * the request's normalised path wins; a path not in normal form is a 400) is
 * forwarded, any method, query as sent, bodies streamed both ways, over a
 * keep-alive pool of the route's own (`connections`). Session routes require
 * `authenticate` and carry a signed identity context instead of the client's
 * credential. No route forwards a gateway credential or a header a trusted
 * proxy would set, and no upstream sets a gateway cookie. An upstream that
 * cannot be reached answers 502, one too slow 504, both as JSON.
 */
export function registerProxy(app: FastifyInstance, options: ProxyOptions): void {
  const routes = compileRoutes(options.routes);
  const timeout = positiveInteger(options.timeout ?? 30_000, 'timeout');
  if (typeof options.sessionCookieName !== 'string' || options.sessionCookieName === '')
    throw new ConfigError('sessionCookieName is required: it is stripped before forwarding');
  if (options.publicHost !== undefined && !isValidHost(options.publicHost))
    throw new ConfigError('publicHost must be a host name or IP address, with an optional port');
  const stripHeaders = new Set((options.stripHeaders ?? []).map(canonicalHeaderName));
  const ownedCookie = ownedCookies([options.sessionCookieName]);
  const isGatewayCredential = gatewayCredential(options.adminToken ?? null);
  /** Requests sent upstream, by their route's prefix: refusals of the gateway's own are not upstream responses. */
  const forwarded = new WeakMap<FastifyRequest, string>();

  app.register(async (scope) => {
    // Every body goes upstream as the raw stream, unparsed and unbuffered (and not capped by bodyLimit).
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
    scope.setErrorHandler((error, request, reply) => {
      // A session that vanished mid-request means the caller is no longer signed in.
      const { status, body, headers = {} } = toErrorResponse(error, { ERR_SESSION_NOT_FOUND: 401 });
      if (status >= 500) request.log.error({ err: error }, 'proxied request failed');
      return reply.code(status).headers(headers).send(body);
    });

    const onUpstreamResponse = options.onUpstreamResponse;
    if (onUpstreamResponse) {
      scope.addHook('onResponse', async (request, reply) => {
        const prefix = forwarded.get(request);
        if (prefix !== undefined) onUpstreamResponse(prefix, reply.statusCode);
      });
    }

    // The router only tells which requests are the proxy's; `forward` picks the route itself.
    for (const route of routes) {
      // One reply-from per route: its undici agent is this route's pool alone.
      scope.register(async (routeScope) => {
        await routeScope.register(replyFrom, {
          undici: { connections: route.connections },
          disableCache: true,
          disableRequestLogging: true,
        });
        for (const url of routerPaths(route))
          routeScope.all(url, proxyRouteLabel(route.prefix), forward);
      });
    }
  });

  async function forward(request: FastifyRequest, reply: FastifyReply) {
    const path = normalizedPathOf(request.url);
    const route = routeFor(routes, path);
    if (route === null) {
      return refuse(reply, new HttpError('ERR_ROUTE_NOT_FOUND', 'no route for this path'));
    }
    const target = upstreamUrlFor(route, path);
    // The gateway checks Host on every request; this keeps the proxy safe on an app without that check.
    const host = options.publicHost ?? request.host;
    if (!isValidHost(host)) {
      return refuse(
        reply,
        new HttpError('ERR_HOST_INVALID', 'the Host header must be one valid host[:port]'),
      );
    }
    let context: string | null = null;
    if (route.auth === 'session') {
      const identity = await options.authenticate(request, reply);
      if (identity === REQUEST_ANSWERED) return reply;
      if (identity === null) {
        reply.header('www-authenticate', 'Bearer realm="clawsession"');
        return refuse(
          reply,
          new HttpError('ERR_UNAUTHORIZED', 'a live session or access token is required'),
        );
      }
      noteUser(request, identity.userId);
      context = await options.contexts.sign(identity, { audience: route.audience });
    }
    const facts = {
      auth: route.auth,
      context,
      ownedCookie,
      gatewayCredential: isGatewayCredential,
      stripHeaders,
      clientIp: request.ip,
      protocol: request.protocol,
      host,
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
        const forwardedResponse = forwardedResponseHeaders(
          headers as IncomingHttpHeaders,
          ownedCookie,
        );
        for (const cookie of forwardedResponse.droppedCookies) {
          request.log.warn(
            { route: route.prefix, cookie },
            "dropped an upstream's Set-Cookie for a gateway cookie",
          );
          options.onCookieDropped?.(route.prefix);
        }
        return forwardedResponse.headers;
      },
      onError: (failedReply, { error }) => {
        // A client too slow to send its body aborted the upstream request; the fault is not upstream.
        const { status, body } = toErrorResponse(requestTimeoutOf(error) ?? upstreamFailure(error));
        failedReply.code(status).send(body);
      },
    });
  }
}

/**
 * The path of a request URL that is already in normal form. The gateway
 * normalises every URL before routing (`normalizedPathOptions`); on an
 * instance that does not, any other URL is refused rather than routed on one
 * reading and forwarded with another.
 */
function normalizedPathOf(url: string): string {
  if (normalizeRequestTarget(url) !== url)
    throw new HttpError('ERR_PATH_INVALID', 'the request path is not in normal form');
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
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
