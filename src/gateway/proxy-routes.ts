import { z } from 'zod';
import { ConfigError } from '../core/index.js';
import { HttpError } from '../http/index.js';

/** One upstream behind the gateway. */
export interface ProxyRoute {
  /** Path prefix, whole segments: `/api/orders` (or `/api/orders/`) serves `/api/orders` and `/api/orders/…`. */
  prefix: string;
  /** Base URL of the upstream; its path, if any, is put before the forwarded path. */
  upstream: string;
  /** `session`: only authenticated callers, forwarded with a signed identity context; `none`: public. */
  auth: 'session' | 'none';
  /** Forward `/api/orders/7` as `/7`. Default false. */
  stripPrefix?: boolean;
  /** `aud` of this route's identity contexts, so that its upstream cannot replay them elsewhere. Default: the gateway's context audience. */
  audience?: string;
  /** Most connections this route keeps open to its upstream (its own pool). Default 128. */
  connections?: number;
}

/** A validated route: the prefix without its trailing slash, the upstream split into origin and path. */
export interface CompiledRoute {
  prefix: string;
  auth: 'session' | 'none';
  stripPrefix: boolean;
  audience: string | undefined;
  connections: number;
  origin: string;
  /** The upstream's own path without a trailing slash ('' for the root). */
  basePath: string;
}

// Path characters that find-my-way takes literally; `:` is escaped when registering.
const SEGMENT = "[A-Za-z0-9._~!$&'()+,;=@:-]+";
const PREFIX = new RegExp(`^/$|^(/${SEGMENT})+/?$`);

/** One route as config files and `registerProxy` accept it (also used by `clawsession config check`). */
export const proxyRouteSchema = z.strictObject({
  prefix: z
    .string()
    .regex(PREFIX, 'must be a path of whole segments such as /api/orders, without * or %')
    .refine((prefix) => !/\/\.\.?(\/|$)/.test(prefix), 'must not contain . or .. segments'),
  upstream: z
    .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
    .refine((url) => {
      const parsed = new URL(url);
      return !parsed.search && !parsed.hash && !parsed.username && !parsed.password;
    }, 'must not carry a query, fragment or credentials'),
  auth: z.enum(['session', 'none']).default('session'),
  stripPrefix: z.boolean().default(false),
  audience: z.string().min(1).max(200).optional(),
  connections: z.number().int().min(1).max(65_536).default(128),
});

/** The prefix as the router uses it: without its trailing slash, except for `/` itself. */
export function normalizedPrefix(prefix: string): string {
  return prefix === '/' ? '/' : prefix.replace(/\/$/, '');
}

/** Checks every route (throws ConfigError) and refuses two routes with the same prefix. */
export function compileRoutes(routes: readonly ProxyRoute[]): CompiledRoute[] {
  if (!Array.isArray(routes)) throw new ConfigError('proxy routes must be a list');
  const compiled = routes.map((route, index) => {
    const result = proxyRouteSchema.safeParse(route);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new ConfigError(
        `invalid proxy route ${index}: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
      );
    }
    const upstream = new URL(result.data.upstream);
    return {
      prefix: normalizedPrefix(result.data.prefix),
      auth: result.data.auth,
      stripPrefix: result.data.stripPrefix,
      audience: result.data.audience,
      connections: result.data.connections,
      origin: upstream.origin,
      basePath: upstream.pathname.replace(/\/$/, ''),
    };
  });
  const seen = new Set<string>();
  for (const route of compiled) {
    if (seen.has(route.prefix))
      throw new ConfigError(`two proxy routes have the prefix ${route.prefix}`);
    seen.add(route.prefix);
  }
  return compiled;
}

/** The router paths that serve a route: the prefix itself and everything under it. */
export function routerPaths(route: CompiledRoute): string[] {
  const escaped = route.prefix.replaceAll(':', '::');
  return route.prefix === '/' ? ['/', '/*'] : [escaped, `${escaped}/*`];
}

/** The route whose prefix is the longest whole-segment prefix of `path`, or null. */
export function routeFor(routes: readonly CompiledRoute[], path: string): CompiledRoute | null {
  let best: CompiledRoute | null = null;
  for (const route of routes) {
    const under =
      route.prefix === '/' || path === route.prefix || path.startsWith(`${route.prefix}/`);
    if (under && route.prefix.length > (best?.prefix.length ?? -1)) best = route;
  }
  return best;
}

/**
 * The upstream URL (without the query, which is forwarded as sent) for a
 * normalised `path` under `route`'s prefix: the prefix stripped if asked,
 * then put under the upstream's base path. Throws ERR_PATH_INVALID rather
 * than return a URL whose path a URL parser would read otherwise (a leading
 * `//`, a `\`, dot segments), or one outside the base path.
 */
export function upstreamUrlFor(route: CompiledRoute, path: string): string {
  const rest = route.stripPrefix && route.prefix !== '/' ? path.slice(route.prefix.length) : path;
  const forwardedPath = `${route.basePath}${rest}` || '/';
  const url = URL.canParse(forwardedPath, route.origin)
    ? new URL(forwardedPath, route.origin)
    : null;
  const underBase =
    forwardedPath === route.basePath || forwardedPath.startsWith(`${route.basePath}/`);
  if (url?.origin !== route.origin || url.pathname !== forwardedPath || !underBase)
    throw new HttpError('ERR_PATH_INVALID', 'the request path would leave its upstream');
  return url.href;
}
