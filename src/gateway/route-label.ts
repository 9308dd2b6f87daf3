import type { FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What metrics call this route, where its router pattern would say something else. */
    routeLabel?: string;
  }
}

/** What a request that matched no route is labelled with: raw URLs would make the series unbounded. */
export const UNMATCHED_ROUTE = '(unmatched)';

/**
 * The one name of a route in every metric that has a `route` label: the
 * pattern as Fastify registered it (`/v1/sessions/:id`), or, for a proxy
 * route, its configured prefix without the trailing slash (`/api/orders`),
 * not the router paths that serve it (`/api/orders`, `/api/orders/*`), so
 * that a proxied request and its upstream response share one label.
 */
export function routeLabel(request: FastifyRequest): string {
  if (request.is404) return UNMATCHED_ROUTE;
  return request.routeOptions.config.routeLabel ?? request.routeOptions.url ?? UNMATCHED_ROUTE;
}

/** The route options that label a proxy route by its prefix. */
export function proxyRouteLabel(prefix: string): { config: { routeLabel: string } } {
  return { config: { routeLabel: prefix } };
}
