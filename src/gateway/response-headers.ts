import type { FastifyInstance, FastifyRequest } from 'fastify';

/**
 * What every response the gateway writes itself says: browsers take the
 * declared type and never sniff another (a JSON error rendered as HTML), and
 * nothing on the way keeps a copy (sessions, tokens, keys, errors).
 */
const OWN_RESPONSE_HEADERS = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
} as const;

/** Requests an upstream answered: how long its answer may be cached is the upstream's decision. */
const answeredUpstream = new WeakSet<FastifyRequest>();

/** Marks `request` as answered by an upstream, whose Cache-Control then stays as it sent it (or absent). */
export function markAnsweredUpstream(request: FastifyRequest): void {
  answeredUpstream.add(request);
}

/**
 * The protective headers for a response written outside Fastify's hooks
 * (before routing, or when the HTTP parser refuses a request).
 */
export function ownResponseHeaders(): Record<string, string> {
  return { ...OWN_RESPONSE_HEADERS };
}

/**
 * Adds to every response of `app` that lacks them: `X-Content-Type-Options:
 * nosniff`, and `Cache-Control: no-store` unless an upstream answered (its
 * caching is its own) or the route chose a policy (the JWKS is public for a
 * few minutes). Call once on the root instance, before routes are registered.
 */
export function applyResponseHeaders(app: FastifyInstance): void {
  app.addHook('onSend', (request, reply, payload, done) => {
    if (!reply.hasHeader('x-content-type-options'))
      reply.header('x-content-type-options', OWN_RESPONSE_HEADERS['x-content-type-options']);
    if (!answeredUpstream.has(request) && !reply.hasHeader('cache-control'))
      reply.header('cache-control', OWN_RESPONSE_HEADERS['cache-control']);
    done(null, payload);
  });
}
