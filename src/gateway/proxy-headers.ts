import type { IncomingHttpHeaders } from 'node:http';
import { decodeProtectedHeader } from 'jose';
import { IDENTITY_CONTEXT_HEADER } from '../tokens/index.js';

/** What the gateway knows about the request it forwards. */
export interface ForwardingFacts {
  auth: 'session' | 'none';
  /** The signed context for a session route, null on a public one. */
  context: string | null;
  sessionCookieName: string;
  /** More header names (lower case) to drop. */
  stripHeaders: ReadonlySet<string>;
  clientIp: string;
  protocol: string;
  host: string;
  requestId: string;
}

/**
 * Headers a client may not set for an upstream: the upstream would take them
 * as said by the gateway. The gateway sets its own values after dropping these.
 */
const GATEWAY_HEADERS = new Set([
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-real-ip',
  'x-request-id',
]);

/**
 * The request headers an upstream receives: no identity header the client
 * made up (`x-clawsession-*`), no gateway credential (the session cookie
 * always; `authorization` on session routes, and on public routes when it
 * holds a gateway access token), then the gateway's context and forwarding facts.
 */
export function forwardedRequestHeaders(
  headers: IncomingHttpHeaders,
  facts: ForwardingFacts,
): IncomingHttpHeaders {
  const forwarded: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-clawsession-') || GATEWAY_HEADERS.has(name)) continue;
    if (facts.stripHeaders.has(name)) continue;
    if (name === 'authorization' && (facts.auth === 'session' || isAccessToken(value))) continue;
    forwarded[name] = value;
  }
  const cookie = withoutCookie(headers.cookie, facts.sessionCookieName);
  if (cookie === null) delete forwarded.cookie;
  else forwarded.cookie = cookie;
  if (facts.context !== null) forwarded[IDENTITY_CONTEXT_HEADER] = facts.context;
  forwarded['x-forwarded-for'] = facts.clientIp;
  forwarded['x-forwarded-proto'] = facts.protocol;
  forwarded['x-forwarded-host'] = facts.host;
  forwarded['x-request-id'] = facts.requestId;
  return forwarded;
}

/** The Cookie header without any `name=` pair (all other cookies as sent), or null when none is left. */
export function withoutCookie(header: string | undefined, name: string): string | null {
  if (header === undefined) return null;
  const kept = header.split(';').filter((pair) => {
    const eq = pair.indexOf('=');
    return (eq === -1 ? pair : pair.slice(0, eq)).trim() !== name && pair.trim() !== '';
  });
  return kept.length === 0 ? null : kept.map((pair) => pair.trim()).join('; ');
}

/** A bearer JWT typed as an access token (RFC 9068 `at+jwt`), such as the gateway's. */
function isAccessToken(authorization: string | string[] | undefined): boolean {
  const token = /^Bearer[ \t]+(\S+)/i.exec(String(authorization ?? ''))?.[1];
  if (token === undefined) return false;
  try {
    const type = decodeProtectedHeader(token).typ?.toLowerCase();
    return type === 'at+jwt' || type === 'application/at+jwt';
  } catch {
    return false;
  }
}

/** Response headers that describe one connection, not the message (RFC 9110 §7.6.1). */
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

/** The upstream's response headers without those about its connection to the gateway. */
export function forwardedResponseHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const listed = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((name) => name.trim().toLowerCase()),
  );
  const forwarded: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!HOP_BY_HOP.has(name) && !listed.has(name)) forwarded[name] = value;
  }
  return forwarded;
}
