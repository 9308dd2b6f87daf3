import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ClawsessionError, constantTimeEqual } from '../core/index.js';
import { fillRandom } from './random-pad.js';

/** A request failed the CSRF checks (origin or token); nothing was done. Maps to HTTP 403. */
export class CsrfError extends ClawsessionError {
  constructor(message: string) {
    super('ERR_CSRF', message);
  }
}

export interface CsrfOptions {
  /** Request header carrying the token. Default `x-csrf-token`. */
  header?: string;
  /** Form field carrying the token in urlencoded bodies the framework has parsed. Default `_csrf`. */
  field?: string;
  /**
   * Origins (scheme://host[:port]) allowed to send unsafe requests besides the
   * request's own host, e.g. a front end on another subdomain.
   */
  trustedOrigins?: readonly string[];
}

export const CSRF_DEFAULTS = Object.freeze({ header: 'x-csrf-token', field: '_csrf' });

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

export function isUnsafeMethod(method: string): boolean {
  return !SAFE_METHODS.has(method.toUpperCase());
}

/**
 * The session data key holding the session's synchronizer token. The HTTP
 * handle hides it from `get()` and refuses patches that touch it; services
 * reading sessions over the API see it and should treat it as a secret.
 */
export const CSRF_DATA_KEY = '__clawsession_csrf';

/** A fresh synchronizer secret: 32 CSPRNG bytes, base64url. */
export function newCsrfToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The form of `secret` to put in a response: a fresh random pad and the
 * secret XORed with it (64 bytes, base64url). Every response shows different
 * bytes, so a compressed response that also reflects attacker input cannot
 * reveal the secret byte by byte (BREACH).
 */
export function maskCsrfToken(secret: string): string {
  const raw = Buffer.from(secret, 'base64url');
  const padded = Buffer.allocUnsafe(2 * raw.length);
  fillRandom(padded.subarray(0, raw.length));
  for (let i = 0; i < raw.length; i++)
    padded[raw.length + i] = (raw[i] as number) ^ (padded[i] as number);
  return padded.toString('base64url');
}

/** Whether `sent` is `secret`, masked (as responses show it) or as stored. Constant time in the secret. */
export function csrfTokenMatches(sent: string, secret: string): boolean {
  const expected = Buffer.from(secret, 'base64url');
  if (sent.length === secret.length) return constantTimeEqual(sent, secret);
  const bytes = Buffer.from(sent, 'base64url');
  if (bytes.length !== 2 * expected.length || bytes.toString('base64url') !== sent) return false;
  const unmasked = Buffer.alloc(expected.length);
  for (let i = 0; i < expected.length; i++) {
    unmasked[i] = (bytes[i] as number) ^ (bytes[expected.length + i] as number);
  }
  return timingSafeEqual(unmasked, expected);
}

/**
 * The token of a session that has none stored yet (created through the API
 * rather than an HTTP login): derived from the session token, so concurrent
 * first requests agree on it, and then stored so that it survives rotation.
 */
export function derivedCsrfToken(sessionToken: string): string {
  return createHmac('sha256', sessionToken).update('clawsession csrf v1').digest('base64url');
}

export type HeaderBag = Readonly<Record<string, string | readonly string[] | undefined>>;

export function headerOf(headers: HeaderBag, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : value?.[0];
}

/**
 * Throws `CsrfError` when an unsafe request comes from another site: its
 * Origin is neither its own host nor trusted, or Sec-Fetch-Site says cross-site.
 * Requests without either header (non-browser clients) pass; the token check still applies.
 */
export function assertSameOrigin(
  headers: HeaderBag,
  options: { trustedOrigins: ReadonlySet<string>; requireHttps: boolean },
): void {
  const origin = headerOf(headers, 'origin');
  const site = headerOf(headers, 'sec-fetch-site');
  if (origin !== undefined && options.trustedOrigins.has(origin)) return;
  if (site === 'cross-site') throw new CsrfError('cross-site request refused');
  if (origin === undefined) return;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw new CsrfError('request origin is not allowed');
  }
  const host = headerOf(headers, 'host');
  const schemeOk =
    url.protocol === 'https:' ||
    (url.protocol === 'http:' && (!options.requireHttps || isLoopbackHost(url.hostname)));
  if (!schemeOk || host === undefined || url.host !== host.toLowerCase()) {
    throw new CsrfError('request origin is not allowed');
  }
}

/**
 * Loopback names and addresses: browsers treat `http://` origins on them as
 * secure contexts (W3C Secure Contexts §3.2) and send `Secure` and `__Host-`
 * cookies there, so a same-origin page on loopback is as trustworthy as an
 * https one (it is what `npm start` serves on 127.0.0.1).
 */
function isLoopbackHost(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname.endsWith('.localhost') ||
    hostname === '[::1]' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
  );
}

/** Throws `CsrfError` unless the request carries the session's token (masked or not) in the header or form field. */
export function assertCsrfToken(
  secret: string,
  request: { headers: HeaderBag; body?: unknown },
  names: { header: string; field: string },
): void {
  const sent = headerOf(request.headers, names.header) ?? fieldOf(request.body, names.field);
  if (sent === undefined) throw new CsrfError('missing CSRF token');
  if (!csrfTokenMatches(sent, secret)) throw new CsrfError('invalid CSRF token');
}

function fieldOf(body: unknown, field: string): string | undefined {
  if (typeof body !== 'object' || body === null || !Object.hasOwn(body, field)) return undefined;
  const value = (body as Record<string, unknown>)[field];
  return typeof value === 'string' ? value : undefined;
}
