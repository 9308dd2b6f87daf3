import type { IncomingHttpHeaders } from 'node:http';
import { IDENTITY_CONTEXT_HEADER } from '../tokens/index.js';
import { type OwnedCookie, partitionSetCookies, withoutOwnedCookies } from './proxy-cookies.js';
import type { GatewayCredential } from './proxy-credentials.js';

/** What the gateway knows about the request it forwards. */
export interface ForwardingFacts {
  auth: 'session' | 'none';
  /** The signed context for a session route, null on a public one. */
  context: string | null;
  ownedCookie: OwnedCookie;
  gatewayCredential: GatewayCredential;
  /** More header names to drop, in canonical form (see `canonicalHeaderName`). */
  stripHeaders: ReadonlySet<string>;
  clientIp: string;
  protocol: string;
  /** A validated host[:port]: the configured public host, else the request's. */
  host: string;
  requestId: string;
}

/**
 * A header name as servers that fold `_` into `-` see it: lower case, dashes
 * only. Every rule below matches this form, so `X_Forwarded_For` is withheld
 * exactly as `X-Forwarded-For` is.
 */
export function canonicalHeaderName(name: string): string {
  return name.toLowerCase().replaceAll('_', '-');
}

/** Headers that describe one connection, not the message (RFC 9110 §7.6.1): never passed on. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Headers that software behind a proxy believes because it takes the proxy to have set them. */
const SET_BY_PROXY = new Set([
  'forwarded',
  'x-real-ip',
  'x-client-ip',
  'x-cluster-client-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'fastly-client-ip',
  'x-host',
  'x-rewrite-url',
  'x-request-id',
]);
const SET_BY_PROXY_PREFIXES = ['x-forwarded', 'x-original-', 'x-clawsession-'];

/** Frameworks' method overrides: they would turn a GET, which needs no CSRF token, into a DELETE. */
const METHOD_OVERRIDES = new Set(['x-http-method-override', 'x-http-method', 'x-method-override']);

/** Credentials for the gateway that are never an upstream's, whatever they hold. */
const GATEWAY_ONLY = new Set(['x-api-key', 'x-csrf-token', 'proxy-authorization']);

/**
 * The request headers an upstream receives. The gateway's own come first
 * (`host`, the signed context, `x-forwarded-*`, `x-request-id`), so that an
 * upstream keeping only its first N headers keeps them. Then the client's,
 * without: hop-by-hop headers and `expect` (Node has already answered it
 * with 100 Continue), what a trusted proxy would set, method overrides,
 * credentials for the gateway (`x-api-key`, `x-csrf-token`,
 * `proxy-authorization`, `authorization` on session routes and whenever it
 * holds a gateway credential), the gateway's cookies, and `stripHeaders`;
 * all of them in any spelling.
 */
export function forwardedRequestHeaders(
  headers: IncomingHttpHeaders,
  facts: ForwardingFacts,
): IncomingHttpHeaders {
  // reply-from has already set `host` to the upstream's.
  const forwarded: IncomingHttpHeaders = { host: headers.host };
  if (facts.context !== null) forwarded[IDENTITY_CONTEXT_HEADER] = facts.context;
  forwarded['x-forwarded-for'] = facts.clientIp;
  forwarded['x-forwarded-proto'] = facts.protocol;
  forwarded['x-forwarded-host'] = facts.host;
  forwarded['x-request-id'] = facts.requestId;
  for (const [name, value] of Object.entries(headers)) {
    if (name === 'host' || withheld(canonicalHeaderName(name), value, facts)) continue;
    if (name === 'cookie') {
      const cookie = withoutOwnedCookies(value as string | undefined, facts.ownedCookie);
      if (cookie !== null) forwarded.cookie = cookie;
      continue;
    }
    forwarded[name] = value;
  }
  return forwarded;
}

function withheld(
  name: string,
  value: string | string[] | undefined,
  facts: ForwardingFacts,
): boolean {
  if (HOP_BY_HOP.has(name) || name === 'expect') return true;
  if (SET_BY_PROXY.has(name) || SET_BY_PROXY_PREFIXES.some((prefix) => name.startsWith(prefix)))
    return true;
  if (METHOD_OVERRIDES.has(name) || GATEWAY_ONLY.has(name) || facts.stripHeaders.has(name))
    return true;
  if (name === 'authorization')
    return facts.auth === 'session' || facts.gatewayCredential(String(value ?? ''));
  return false;
}

/**
 * The upstream's response headers without those about its connection to the
 * gateway, and without any Set-Cookie for a gateway cookie: those are listed
 * by name in `droppedCookies`.
 */
export function forwardedResponseHeaders(
  headers: IncomingHttpHeaders,
  ownedCookie: OwnedCookie,
): { headers: IncomingHttpHeaders; droppedCookies: string[] } {
  const listed = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((name) => name.trim().toLowerCase()),
  );
  const forwarded: IncomingHttpHeaders = {};
  let droppedCookies: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (HOP_BY_HOP.has(name) || listed.has(name) || value === undefined) continue;
    if (name === 'set-cookie') {
      const { kept, dropped } = partitionSetCookies(value, ownedCookie);
      droppedCookies = dropped;
      if (kept.length > 0) forwarded['set-cookie'] = kept;
      continue;
    }
    forwarded[name] = value;
  }
  return { headers: forwarded, droppedCookies };
}
