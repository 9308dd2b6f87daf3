import {
  applyPatch,
  type EventCause,
  type PatchOperation,
  parsePatch,
  type Session,
  type SessionData,
  type SessionManager,
  SessionNotFoundError,
  type SessionTimes,
  type SessionValue,
  sessionIdOf,
  sessionTimes,
  ValidationError,
} from '../core/index.js';
import {
  type BindingMismatch,
  type BindingPolicy,
  bindingMismatches,
  normalizeIp,
} from './binding.js';
import { SessionCookie, type SessionCookieOptions } from './cookies.js';
import {
  assertCsrfToken,
  assertSameOrigin,
  CSRF_DATA_KEY,
  CSRF_DEFAULTS,
  CsrfError,
  type CsrfOptions,
  derivedCsrfToken,
  type HeaderBag,
  headerOf,
  isUnsafeMethod,
  maskCsrfToken,
  newCsrfToken,
} from './csrf.js';
import { type ErrorBody, toErrorResponse } from './errors.js';
import {
  assertNoReservedKey,
  checkReservedKeys,
  grantedRoles,
  isReservedKey,
  ROLES_DATA_KEY,
} from './reserved-data.js';

export interface HttpSessionsOptions {
  manager: SessionManager;
  cookie?: SessionCookieOptions;
  csrf?: CsrfOptions;
  /** User-Agent and IP binding; every check is off by default. */
  binding?: BindingPolicy;
  /** Receives every binding mismatch ('log' and 'revoke'). Default: a process warning. */
  onBindingMismatch?: (mismatch: BindingMismatch) => void;
  /**
   * Scheduled token rotation: a request whose token is older than `interval`
   * ms gets a new token (a new cookie) for the same session, and the old one
   * keeps working for `grace` ms (default the manager's `rotationGrace`), so
   * that requests other tabs have in flight with it do not fail.
   */
  rotation?: { interval: number; grace?: number };
}

/** What an adapter reads from its framework's request. Header names are lower case. */
export interface HttpRequestInput {
  method: string;
  headers: HeaderBag;
  /** The client address as the framework resolved it (with its own proxy trust settings). */
  ip?: string | null;
  /** A body the framework has already parsed; only its `_csrf` field is read. */
  body?: unknown;
}

/** The session of one request: what adapters expose as `req.session` or `c.get('session')`. */
export interface SessionHandle {
  /** The signed-in user, or null when the request carries no live session. */
  readonly userId: string | null;
  /** The stored id (SHA-256 of the token, hex), safe to log; null without a session. */
  readonly id: string | null;
  /**
   * The token unsafe requests must send back (header or form field); null
   * without a session. Masked with a fresh pad per request (BREACH), so it
   * differs between responses; every form of it stays valid for the session.
   */
  readonly csrfToken: string | null;
  /** The roles granted at login (`login`'s `grant`); no patch changes them. Empty without a session. */
  readonly roles: string[];
  /** When the session began, was last active (this request counts) and ends; null without a session. */
  readonly times: SessionTimes | null;
  /** A copy of the data, with this request's own changes applied; reserved keys (`__clawsession_*`) are not part of it. */
  get(): SessionData;
  get(key: string): SessionValue | undefined;
  /** Sets a top-level key; written at the end of the request. */
  set(key: string, value: SessionValue): void;
  /**
   * Queues a JSON Patch (plus `increment`); checked now, written at the end
   * of the request. Reserved keys are out of its reach (ForbiddenPathError);
   * a write of the whole data keeps them.
   */
  patch(ops: readonly PatchOperation[]): void;
  /**
   * Signs in: revokes any session the request carried (fixation) and starts a
   * new one, with `grant.roles` kept where no patch reaches them.
   */
  login(userId: string, data?: SessionData, grant?: { roles?: readonly string[] }): Promise<void>;
  /** New token for the same session; the old one is dead at once. Call on every privilege change. */
  regenerate(): Promise<void>;
  /** Revokes the session and clears the cookie. */
  destroy(): Promise<void>;
}

/** One request's passage through the core; adapters move these values in and out. */
export interface SessionExchange {
  readonly session: SessionHandle;
  /** When set, send this response and do not run the application. */
  readonly refused: { status: number; body: ErrorBody } | null;
  /** Set-Cookie values to send with the response, as of now. */
  setCookies(): string[];
  /**
   * Writes this request's changes as one atomic patch. Call once, before the
   * response is sent; a server error status (5xx) skips the write.
   */
  commit(status?: number): Promise<void>;
}

/**
 * The framework-neutral core: reads the session cookie, applies binding and
 * CSRF checks, hands out a request-scoped session and says which cookies to set.
 */
export class HttpSessions {
  readonly manager: SessionManager;
  readonly cookie: SessionCookie;
  readonly csrf: { header: string; field: string; trustedOrigins: ReadonlySet<string> };
  readonly #binding: BindingPolicy;
  readonly #onBindingMismatch: (mismatch: BindingMismatch) => void;
  readonly #rotation: { interval: number; grace?: number } | undefined;

  constructor(options: HttpSessionsOptions) {
    this.manager = options.manager;
    this.cookie = new SessionCookie(options.cookie);
    this.csrf = {
      header: (options.csrf?.header ?? CSRF_DEFAULTS.header).toLowerCase(),
      field: options.csrf?.field ?? CSRF_DEFAULTS.field,
      trustedOrigins: new Set(options.csrf?.trustedOrigins ?? []),
    };
    this.#binding = options.binding ?? {};
    const rotation = options.rotation;
    if (
      rotation !== undefined &&
      !(
        Number.isSafeInteger(rotation.interval) &&
        rotation.interval > 0 &&
        (rotation.grace === undefined ||
          (Number.isSafeInteger(rotation.grace) && rotation.grace >= 0))
      )
    ) {
      throw new ValidationError(
        'rotation needs a positive integer interval and a non-negative integer grace, in ms',
      );
    }
    this.#rotation = rotation;
    this.#onBindingMismatch =
      options.onBindingMismatch ??
      ((m) =>
        process.emitWarning(
          `clawsession: session ${m.sessionId} ${m.field} changed (${m.action})`,
          { code: 'CLAWSESSION_BINDING_MISMATCH' },
        ));
  }

  async begin(request: HttpRequestInput): Promise<SessionExchange> {
    const client = {
      ip: normalizeIp(request.ip),
      userAgent: headerOf(request.headers, 'user-agent') ?? null,
    };
    const handle = new RequestSession(this.manager, this.cookie, client);
    const token = this.cookie.read(request.headers.cookie);
    const session = token === null ? null : await this.manager.get(token);
    if (token !== null && session !== null) {
      const mismatches = bindingMismatches(session, client, this.#binding);
      for (const mismatch of mismatches) this.#onBindingMismatch(mismatch);
      if (mismatches.some((m) => m.action === 'revoke'))
        await handle.revoke(token, BINDING_MISMATCH);
      else handle.adopt(token, session);
    }
    let refused: SessionExchange['refused'] = null;
    if (isUnsafeMethod(request.method)) {
      try {
        assertSameOrigin(request.headers, {
          trustedOrigins: this.csrf.trustedOrigins,
          requireHttps: this.cookie.secure,
        });
        const secret = handle.csrfSecret;
        if (secret !== null) assertCsrfToken(secret, request, this.csrf);
      } catch (error) {
        if (!(error instanceof CsrfError)) throw error;
        refused = toErrorResponse(error);
      }
    }
    // After the CSRF check, which the request's own token passed. A token reached through an
    // alias (rotated away by a parallel request, within its grace) is not rotated again.
    const rotation = this.#rotation;
    if (
      rotation &&
      refused === null &&
      token !== null &&
      handle.id === sessionIdOf(token) &&
      handle.dueFor(rotation.interval)
    ) {
      await handle.rotate(rotation.grace);
    }
    return {
      session: handle,
      refused,
      setCookies: () => handle.setCookies(),
      commit: (status) => handle.commit(status),
    };
  }
}

class RequestSession implements SessionHandle {
  readonly #manager: SessionManager;
  readonly #cookie: SessionCookie;
  readonly #client: { ip: string | null; userAgent: string | null };
  #token: string | null = null;
  #session: Session | null = null;
  #csrfToken: string | null = null;
  /** This request's masked form of the secret, so that one response shows one token. */
  #masked: { secret: string; token: string } | null = null;
  #data: SessionData = {};
  /** Reserved keys other than the CSRF secret (kept in `#csrfToken`), as stored. */
  #reserved: SessionData = {};
  #pending: PatchOperation[] = [];
  #cookieToSet: string | null = null;

  constructor(
    manager: SessionManager,
    cookie: SessionCookie,
    client: { ip: string | null; userAgent: string | null },
  ) {
    this.#manager = manager;
    this.#cookie = cookie;
    this.#client = client;
  }

  get userId(): string | null {
    return this.#session?.userId ?? null;
  }

  get id(): string | null {
    return this.#session?.id ?? null;
  }

  get csrfToken(): string | null {
    if (this.#csrfToken === null) return null;
    if (this.#masked?.secret !== this.#csrfToken) {
      this.#masked = { secret: this.#csrfToken, token: maskCsrfToken(this.#csrfToken) };
    }
    return this.#masked.token;
  }

  /** The session's CSRF secret as stored, to check a request against. */
  get csrfSecret(): string | null {
    return this.#csrfToken;
  }

  get roles(): string[] {
    return grantedRoles(this.#reserved);
  }

  get times(): SessionTimes | null {
    return this.#session === null ? null : sessionTimes(this.#session);
  }

  get(): SessionData;
  get(key: string): SessionValue | undefined;
  get(key?: string): SessionData | SessionValue | undefined {
    if (key === undefined) return structuredClone(this.#data);
    return Object.hasOwn(this.#data, key) ? structuredClone(this.#data[key]) : undefined;
  }

  set(key: string, value: SessionValue): void {
    this.patch([{ op: 'add', path: `/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`, value }]);
  }

  patch(ops: readonly PatchOperation[]): void {
    if (this.#session === null)
      throw new SessionNotFoundError('no session to change: log in first');
    const parsed = parsePatch(ops);
    const { writesRoot } = checkReservedKeys(parsed);
    // Applied to the local copy now, so a patch that cannot apply fails in the handler, not after it.
    this.#data = applyPatch(this.#data, parsed);
    this.#pending.push(...structuredClone(parsed));
    // The stored root holds the reserved keys too: put them back after a write of the whole data.
    if (writesRoot) {
      if (this.#csrfToken !== null) this.#pending.push(csrfTokenWrite(this.#csrfToken));
      for (const [key, value] of Object.entries(this.#reserved))
        this.#pending.push({ op: 'add', path: `/${key}`, value: structuredClone(value) });
    }
  }

  async login(
    userId: string,
    data: SessionData = {},
    grant: { roles?: readonly string[] } = {},
  ): Promise<void> {
    assertNoReservedKey(data);
    if (this.#token !== null) await this.#manager.revoke(this.#token, { cause: REPLACED });
    const issued = await this.#manager.create({
      userId,
      data: {
        ...data,
        ...(grant.roles === undefined ? {} : { [ROLES_DATA_KEY]: [...grant.roles] }),
        [CSRF_DATA_KEY]: newCsrfToken(),
      },
      ...this.#client,
    });
    this.adopt(issued.token, issued.session);
    this.#cookieToSet = this.#cookie.serialize(issued.token);
  }

  async regenerate(): Promise<void> {
    if (this.#token === null) throw new SessionNotFoundError('no session to regenerate');
    const issued = await this.#manager.regenerate(this.#token);
    this.#token = issued.token;
    this.#session = issued.session;
    this.#cookieToSet = this.#cookie.serialize(issued.token);
    // A token seen before a privilege change is useless after it; written with the request's changes.
    this.#csrfToken = newCsrfToken();
    this.#pending.push(csrfTokenWrite(this.#csrfToken));
  }

  /** Whether the token is older than `interval`: due for a scheduled rotation. */
  dueFor(interval: number): boolean {
    return this.#session !== null && this.#manager.rotationDue(this.#session, interval);
  }

  /**
   * Scheduled rotation: a new token and cookie, the old token alive for the
   * grace. A parallel request that rotated first wins; this one then keeps the
   * old token, which leads to the rotated session during the grace.
   */
  async rotate(grace?: number): Promise<void> {
    if (this.#token === null) return;
    let issued: Awaited<ReturnType<SessionManager['rotate']>>;
    try {
      issued = await this.#manager.rotate(this.#token, grace === undefined ? {} : { grace });
    } catch (error) {
      if (error instanceof SessionNotFoundError) return;
      throw error;
    }
    this.#token = issued.token;
    this.#session = issued.session;
    this.#cookieToSet = this.#cookie.serialize(issued.token);
  }

  async destroy(): Promise<void> {
    if (this.#token !== null) await this.revoke(this.#token);
    else this.#cookieToSet = this.#cookie.clear();
  }

  adopt(token: string, session: Session): void {
    const { [CSRF_DATA_KEY]: stored, ...data } = session.data;
    this.#token = token;
    this.#session = session;
    this.#data = {};
    this.#reserved = {};
    // Shared with the session the store handed over, not copied: nothing here changes a value in
    // place (applyPatch copies, get() hands out copies), and this request is the session's only reader.
    for (const key in data) {
      const value = data[key] as SessionValue;
      if (isReservedKey(key)) this.#reserved[key] = value;
      else this.#data[key] = value;
    }
    this.#pending = [];
    if (typeof stored === 'string') {
      this.#csrfToken = stored;
    } else {
      this.#csrfToken = derivedCsrfToken(token);
      this.#pending.push(csrfTokenWrite(this.#csrfToken));
    }
  }

  async revoke(token: string, cause: EventCause = LOGOUT): Promise<void> {
    await this.#manager.revoke(token, { cause });
    this.#token = null;
    this.#session = null;
    this.#csrfToken = null;
    this.#data = {};
    this.#reserved = {};
    this.#pending = [];
    this.#cookieToSet = this.#cookie.clear();
  }

  setCookies(): string[] {
    return this.#cookieToSet === null ? [] : [this.#cookieToSet];
  }

  async commit(status = 200): Promise<void> {
    const ops = this.#pending;
    this.#pending = [];
    if (ops.length === 0 || this.#token === null || status >= 500) return;
    this.#session = await this.#manager.patch(this.#token, ops);
  }
}

const CSRF_PATH = `/${CSRF_DATA_KEY}`;
/** Causes recorded with the session events (docs/events.md). */
const LOGOUT: EventCause = { actor: 'user', reason: 'logout' };
const REPLACED: EventCause = { actor: 'user', reason: 'replaced-by-login' };
const BINDING_MISMATCH: EventCause = { actor: 'system', reason: 'binding-mismatch' };

function csrfTokenWrite(token: string): PatchOperation {
  return { op: 'add', path: CSRF_PATH, value: token };
}

const handles = new WeakMap<object, SessionHandle>();

/** Adapters call this so that `sessionOf(req)` finds the handle, typed, in any framework. */
export function attachSession(request: object, session: SessionHandle): void {
  handles.set(request, session);
  const target = request as { session?: unknown };
  try {
    // An assignment where the framework declared a plain property (Fastify's decorateRequest): far
    // cheaper than defining one, which remains for a getter or a read-only property in the way.
    target.session = session;
  } catch {}
  if (target.session !== session)
    Object.defineProperty(request, 'session', {
      value: session,
      configurable: true,
      writable: true,
    });
}

/** The session handle of a request that went through an adapter. Throws if none did. */
export function sessionOf(request: object): SessionHandle {
  const session = handles.get(request);
  if (!session) throw new Error('no clawsession handle on this request: is the adapter installed?');
  return session;
}

/**
 * The status and JSON body for an error escaping the core. A session that
 * vanished mid-request (revoked elsewhere) means the caller is no longer
 * signed in: 401 here, where the service API says 404 for a missing resource.
 */
export function errorResponse(error: unknown): ReturnType<typeof toErrorResponse> {
  return toErrorResponse(error, { ERR_SESSION_NOT_FOUND: 401 });
}
