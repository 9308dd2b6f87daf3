import { ConfigError } from '../core/index.js';

export type SameSite = 'lax' | 'strict' | 'none';

export interface SessionCookieOptions {
  /** Cookie name. Default `__Host-cs_session` (`cs_session` in insecure development mode). */
  name?: string;
  /** Default `'lax'`. `'none'` needs `Secure`, so it is refused in insecure development mode. */
  sameSite?: SameSite;
  /**
   * Lifetime in ms, sent as `Max-Age`. Default null: a browser-session cookie,
   * gone when the browser closes; the server's idle and absolute timeouts apply either way.
   */
  maxAge?: number | null;
  /**
   * Plain-HTTP development only: drops `Secure` and the `__Host-` prefix, and
   * warns once at construction. Never set this in production.
   */
  insecureDevelopmentMode?: boolean;
}

/** The secure defaults, declared once; options override them field by field. */
export const SESSION_COOKIE_DEFAULTS = Object.freeze({
  name: '__Host-cs_session',
  httpOnly: true,
  secure: true,
  sameSite: 'lax' as SameSite,
  path: '/',
  maxAge: null as number | null,
});

/** Larger Cookie headers are ignored as a whole: treated as no session. */
export const MAX_COOKIE_HEADER_BYTES = 4096;

const DEVELOPMENT_NAME = 'cs_session';
// RFC 6265 cookie-name: an HTTP token.
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;
const SAME_SITE_LABEL: Record<SameSite, string> = { lax: 'Lax', strict: 'Strict', none: 'None' };

/** Reads and writes the session cookie: parsing that never throws, attributes fixed at construction. */
export class SessionCookie {
  readonly name: string;
  readonly secure: boolean;
  readonly sameSite: SameSite;
  readonly maxAge: number | null;

  constructor(options: SessionCookieOptions = {}) {
    const insecure = options.insecureDevelopmentMode === true;
    this.secure = !insecure;
    this.name = options.name ?? (insecure ? DEVELOPMENT_NAME : SESSION_COOKIE_DEFAULTS.name);
    this.sameSite = options.sameSite ?? SESSION_COOKIE_DEFAULTS.sameSite;
    this.maxAge = options.maxAge ?? SESSION_COOKIE_DEFAULTS.maxAge;
    if (!COOKIE_NAME.test(this.name)) throw new ConfigError('cookie name must be an HTTP token');
    if (!(this.sameSite in SAME_SITE_LABEL)) {
      throw new ConfigError("cookie sameSite must be 'lax', 'strict' or 'none'");
    }
    if (this.maxAge !== null && !(Number.isSafeInteger(this.maxAge) && this.maxAge > 0)) {
      throw new ConfigError('cookie maxAge must be a positive integer of ms, or null');
    }
    if (insecure) {
      // Browsers reject these without Secure, so a silent mismatch would only look like a bug.
      if (/^__(Host|Secure)-/i.test(this.name)) {
        throw new ConfigError(
          'a __Host- or __Secure- cookie needs Secure: rename it for development',
        );
      }
      if (this.sameSite === 'none') throw new ConfigError('SameSite=None needs Secure');
      process.emitWarning(
        `clawsession: insecure development mode: the session cookie "${this.name}" is sent without Secure over plain HTTP; never use this in production`,
        { code: 'CLAWSESSION_INSECURE_COOKIE' },
      );
    }
  }

  /**
   * The session token from a Cookie header, or null. Oversize headers, a name
   * present more than once (cookie tossing: no way to tell which is ours) and
   * values not shaped like a token all count as no session.
   */
  read(header: string | readonly string[] | null | undefined): string | null {
    const joined = typeof header === 'string' ? header : header ? header.join('; ') : '';
    if (joined === '' || Buffer.byteLength(joined) > MAX_COOKIE_HEADER_BYTES) return null;
    let found: string | null = null;
    for (const pair of joined.split(';')) {
      const eq = pair.indexOf('=');
      if (eq === -1 || pair.slice(0, eq).trim() !== this.name) continue;
      if (found !== null) return null;
      found = pair.slice(eq + 1).trim();
    }
    return found !== null && TOKEN_SHAPE.test(found) ? found : null;
  }

  /** The Set-Cookie value carrying `token`. */
  serialize(token: string): string {
    const maxAge = this.maxAge === null ? [] : [`Max-Age=${Math.floor(this.maxAge / 1000)}`];
    return this.#withAttributes(`${this.name}=${token}`, maxAge);
  }

  /** The Set-Cookie value that removes the cookie from the browser. */
  clear(): string {
    return this.#withAttributes(`${this.name}=`, [
      'Max-Age=0',
      'Expires=Thu, 01 Jan 1970 00:00:00 GMT',
    ]);
  }

  #withAttributes(pair: string, lifetime: string[]): string {
    // No Domain, ever: a host-only cookie is not sent to (or settable from) sibling subdomains.
    return [
      pair,
      `Path=${SESSION_COOKIE_DEFAULTS.path}`,
      ...lifetime,
      'HttpOnly',
      ...(this.secure ? ['Secure'] : []),
      `SameSite=${SAME_SITE_LABEL[this.sameSite]}`,
    ].join('; ');
  }
}
