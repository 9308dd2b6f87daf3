import { isIP } from 'node:net';
import type { Request } from 'express';
import session, { type SessionData as ExpressSessionData } from 'express-session';
import {
  ClawsessionError,
  generateToken,
  InvalidTokenError,
  type PatchOperation,
  PatchTargetError,
  type SessionData,
  SessionExistsError,
  type SessionManager,
  SessionNotFoundError,
  sessionIdOf,
  ValidationError,
} from '../core/index.js';
import { coarsePatch, diffSessionData } from './express-session-diff.js';

export interface ClawsessionStoreOptions {
  manager: SessionManager;
  /**
   * The user a session belongs to, read from its data when the session is
   * first saved. Undefined means nobody is logged in: the session is recorded
   * under `ANONYMOUS_USER_ID`. Default: `userId`, else `user.id`, else
   * `passport.user` (a string or an integer).
   */
  userIdOf?: (data: SessionData) => string | undefined;
}

/** The user id recorded for sessions saved while nobody is logged in. */
export const ANONYMOUS_USER_ID = 'anonymous';

/**
 * express-session's `genid` option: session ids are clawsession tokens (32
 * CSPRNG bytes, base64url), so the cookie holds the token the manager knows.
 */
export function genid(): string {
  return generateToken();
}

/**
 * A saved session names another user than the one it was created for. A
 * session keeps its user for life (so `revokeAllForUser` finds it): call
 * `req.session.regenerate()` on login, which is also the defence against
 * session fixation.
 */
export class SessionUserChangedError extends ClawsessionError {
  readonly from: string;
  readonly to: string;

  constructor(from: string, to: string) {
    super(
      'ERR_SESSION_USER_CHANGED',
      `the session belongs to ${JSON.stringify(from)} but its data now names ${JSON.stringify(to)}: call req.session.regenerate() on login so the user gets a new session`,
    );
    this.from = from;
    this.to = to;
  }
}

type Callback = (error?: unknown) => void;

/** What a request loaded: the data as handed to express-session (JSON, without `cookie.expires`) and the record's user. */
interface Loaded {
  data: SessionData;
  userId: string;
}

/**
 * A store for the express-session middleware over a `SessionManager`. It
 * remembers each session as its request loaded it and, on save, writes only
 * the difference as a patch, so concurrent requests of one user keep each
 * other's changes. Use with `genid`:
 *
 * `app.use(session({ store: new ClawsessionStore({ manager }), genid, secret, resave: false, saveUninitialized: false }))`
 *
 * No `all`, `length` or `clear`: they would scan every session, and `all`
 * must return session ids, which the store never keeps (only their SHA-256).
 */
export class ClawsessionStore extends session.Store {
  readonly #manager: SessionManager;
  readonly #userIdOf: (data: SessionData) => string | undefined;
  /**
   * Keyed by the session object, not the sid: each request has its own
   * object, so concurrent requests on one sid each diff against what they
   * themselves loaded. Entries go when the request's session is collected.
   */
  readonly #loaded = new WeakMap<object, Loaded>();
  /** Saves of one session object run one after another, each diffing against the last. */
  readonly #saving = new WeakMap<object, Promise<unknown>>();

  constructor(options: ClawsessionStoreOptions) {
    super();
    if (typeof options?.manager?.patch !== 'function') {
      throw new ValidationError('ClawsessionStore needs { manager: SessionManager }');
    }
    this.#manager = options.manager;
    this.#userIdOf = options.userIdOf ?? defaultUserIdOf;
  }

  override get(
    sid: string,
    callback: (error: unknown, data?: ExpressSessionData | null) => void,
  ): void {
    settle(this.#get(sid), callback);
  }

  override set(sid: string, data: ExpressSessionData, callback?: Callback): void {
    const previous = this.#saving.get(data) ?? Promise.resolve();
    const saved = previous.then(() => this.#set(sid, data));
    this.#saving.set(
      data,
      saved.catch(() => {}),
    );
    settle(saved, callback);
  }

  override destroy(sid: string, callback?: Callback): void {
    settle(isToken(sid) ? this.#manager.revoke(sid).then(() => {}) : Promise.resolve(), callback);
  }

  /**
   * express-session calls this after a request that changed nothing. A
   * session loaded by this store was already counted as activity by the
   * manager's read, which slides the idle expiry past its touch threshold;
   * touching again would write on every request.
   */
  override touch(sid: string, data: ExpressSessionData, callback?: Callback): void {
    if (this.#loaded.has(data) || !isToken(sid)) {
      callback?.();
      return;
    }
    settle(
      this.#manager.touch(sid).then(() => {}),
      callback,
    );
  }

  /** express-session wraps what `get` returned in a new object; the snapshot follows it. */
  override createSession(req: Request, data: ExpressSessionData) {
    const created = super.createSession(req, data);
    const loaded = this.#loaded.get(data);
    if (loaded) this.#loaded.set(created, loaded);
    return created;
  }

  async #get(sid: string): Promise<ExpressSessionData | null> {
    // A cookie from the store used before the switch, or a forged one: no session, and express-session starts a new one.
    if (!isToken(sid)) return null;
    const found = await this.#manager.get(sid);
    if (!found) return null;
    const data = toPlain(found.data);
    const loaded = toPlain(found.data);
    this.#loaded.set(loaded, { data, userId: found.userId });
    loaded.cookie = cookieOf(loaded.cookie, found.lastActiveAt);
    return loaded as unknown as ExpressSessionData;
  }

  async #set(sid: string, value: ExpressSessionData): Promise<void> {
    if (!isToken(sid)) {
      throw new InvalidTokenError(
        "express-session's session id is not a clawsession token: pass genid from 'clawsession/express-session' to session()",
      );
    }
    const data = toPlain(value);
    const named = this.#named(data);
    const loaded = this.#loaded.get(value);
    let userId: string;
    if (loaded) {
      userId = loaded.userId;
      if (named !== undefined && named !== userId) throw new SessionUserChangedError(userId, named);
      await this.#write(sid, loaded.data, data);
    } else {
      userId = await this.#create(sid, data, named ?? ANONYMOUS_USER_ID, value);
    }
    this.#loaded.set(value, { data, userId });
  }

  /** Returns the user the record belongs to. */
  async #create(sid: string, data: SessionData, userId: string, value: object): Promise<string> {
    const request = requestOf(value);
    try {
      await this.#manager.create({
        token: sid,
        userId,
        data,
        ip: request.ip,
        userAgent: request.userAgent,
      });
      return userId;
    } catch (error) {
      if (!(error instanceof SessionExistsError)) throw error;
      // A `set` without a `get` on a live session (the store used directly):
      // express-session's contract is to overwrite it, so the whole data is replaced.
      const current = await this.#manager.get(sid, { touch: false });
      if (!current) throw error;
      if (userId !== ANONYMOUS_USER_ID && userId !== current.userId) {
        throw new SessionUserChangedError(current.userId, userId);
      }
      await this.#patch(sid, [{ op: 'replace', path: '', value: data }]);
      return current.userId;
    }
  }

  async #write(sid: string, before: SessionData, after: SessionData): Promise<void> {
    const ops = diffSessionData(before, after);
    if (ops.length === 0) return;
    try {
      await this.#patch(sid, ops);
    } catch (error) {
      // A concurrent request changed the record so that the fine patch no longer applies.
      if (!(error instanceof PatchTargetError)) throw error;
      await this.#patch(sid, coarsePatch(before, after));
    }
  }

  async #patch(sid: string, ops: PatchOperation[]): Promise<void> {
    try {
      await this.#manager.patch(sid, ops);
    } catch (error) {
      // Revoked or expired while the request ran: a save must not bring it back.
      if (!(error instanceof SessionNotFoundError)) throw error;
    }
  }

  #named(data: SessionData): string | undefined {
    const userId = this.#userIdOf(data);
    if (userId === undefined) return undefined;
    if (typeof userId !== 'string' || userId.length === 0 || userId.length > 256) {
      throw new ValidationError(
        'userIdOf must return undefined or a non-empty string of at most 256 characters',
      );
    }
    return userId;
  }
}

function defaultUserIdOf(data: SessionData): string | undefined {
  const { userId, user, passport } = data;
  return (
    idValue(userId) ??
    (isRecord(user) ? idValue(user.id) : undefined) ??
    (isRecord(passport) ? idValue(passport.user) : undefined)
  );
}

function idValue(value: unknown): string | undefined {
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return undefined;
}

/**
 * The session as JSON, which is what express-session's own stores keep
 * (Dates become strings, undefined members drop), minus `cookie.expires`:
 * the cookie's expiry moves on every request and is derived on load instead.
 * `cookie.originalMaxAge` is rounded to the second (the resolution of the
 * cookie's Max-Age): express-session recomputes it from the clock on every
 * response, so it drifts by a millisecond now and then, which would otherwise
 * be a write.
 */
function toPlain(value: object): SessionData {
  const data = JSON.parse(JSON.stringify(value)) as SessionData;
  const { cookie } = data;
  if (isRecord(cookie)) {
    delete cookie.expires;
    if (typeof cookie.originalMaxAge === 'number') {
      cookie.originalMaxAge = Math.round(cookie.originalMaxAge / 1000) * 1000;
    }
  }
  return data;
}

/**
 * The cookie express-session needs on every loaded session. `expires` is
 * where the cookie stood after the last activity, since express-session
 * resets it to `originalMaxAge` from now on every response anyway. A session
 * created outside express-session gets secure defaults.
 */
function cookieOf(stored: unknown, lastActiveAt: number) {
  const cookie = isRecord(stored)
    ? stored
    : { originalMaxAge: null, httpOnly: true, secure: true, sameSite: 'lax', path: '/' };
  const maxAge = cookie.originalMaxAge;
  return {
    ...cookie,
    expires: typeof maxAge === 'number' ? new Date(lastActiveAt + maxAge).toISOString() : null,
  };
}

/**
 * The client of the request saving a new session, from the `req` that
 * express-session's Session objects carry (not enumerable, so never stored).
 */
function requestOf(value: object): { ip: string | null; userAgent: string | null } {
  const req = (value as { req?: { ip?: unknown; headers?: Record<string, unknown> } }).req;
  const ip = typeof req?.ip === 'string' && isIP(req.ip) !== 0 ? req.ip : null;
  const agent = req?.headers?.['user-agent'];
  if (typeof agent !== 'string') return { ip, userAgent: null };
  // The manager's cap on user agents, never cut through a surrogate pair.
  const cut = agent.slice(0, 512);
  return { ip, userAgent: /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut };
}

function isToken(sid: unknown): sid is string {
  try {
    sessionIdOf(sid as string);
    return true;
  } catch {
    return false;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Node-style callbacks, as express-session calls stores. */
function settle<T>(work: Promise<T>, callback?: (error: unknown, value?: T) => void): void {
  work.then(
    (value) => callback?.(null, value),
    (error: unknown) => callback?.(error),
  );
}
