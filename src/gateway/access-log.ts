import type { FastifyInstance, FastifyRequest } from 'fastify';
import { principalOf } from './service-auth.js';

const users = new WeakMap<FastifyRequest, string>();

/** Records whose request this was (a signed-in user), for its access line. */
export function noteUser(request: FastifyRequest, userId: string): void {
  users.set(request, userId);
}

/** Probes that run every few seconds: their lines are debug, not info. */
const PROBES = new Set(['/healthz', '/readyz']);

/**
 * One access line per request, once its response is done (Fastify's own two
 * request lines are off): the request as the `req` serializer shows it (URL
 * redacted), the route pattern, status, duration in ms, and who it was for
 * (the user, or the service credential's key prefix), never a credential.
 * Health and readiness probes log at debug.
 */
export function registerAccessLog(app: FastifyInstance): void {
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url;
    const principal = principalOf(request);
    const line = {
      req: request,
      route,
      status: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 1000) / 1000,
      userId: users.get(request),
      credential:
        principal === undefined ? undefined : principal.kind === 'root' ? 'root' : principal.prefix,
    };
    if (route !== undefined && PROBES.has(route)) request.log.debug(line, 'request');
    else request.log.info(line, 'request');
    done();
  });
}
