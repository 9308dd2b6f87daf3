import { isIP } from 'node:net';
import { assertSessionData } from './data.js';
import { SessionNotFoundError, ValidationError } from './errors.js';
import { SessionEventEmitter, type SessionEventName, type SessionEvents } from './events.js';
import type { EventCause, WriteOptions } from './outbox.js';
import { parsePatch } from './patch.js';
import type { Session, SessionData } from './session.js';
import type { ArchiveSink, SessionStore } from './store.js';
import { cryptoRandom, generateToken, type RandomSource, sessionIdOf } from './token.js';

export interface SessionManagerOptions {
  store: SessionStore;
  /** Sliding inactivity limit in ms. Default 30 minutes. */
  idleTimeout?: number;
  /** Hard limit from creation in ms, whatever the activity. Default 24 hours. */
  absoluteTimeout?: number;
  /**
   * A read writes the new idle expiry only when it moved by more than this
   * fraction of `idleTimeout`, so busy sessions do not write on every request.
   * Default 0.1; 0 writes on every read.
   */
  touchThreshold?: number;
  /** Milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number;
  /** Source of token bytes. Default the CSPRNG. */
  random?: RandomSource;
  /**
   * Age of a token, in ms, after which `rotationDue` says to rotate it (the
   * HTTP middleware's `rotation` option does so on a request). Default: never.
   */
  rotationInterval?: number;
  /** How long the old token keeps working after `rotate`, in ms. Default 30 seconds. */
  rotationGrace?: number;
  /**
   * Most live sessions one user may hold. `create` beyond it revokes the
   * user's earliest-created sessions (never the new one), each with a
   * `revoked` event whose `reason` is `'evicted'`. Default: unbounded.
   */
  maxSessionsPerUser?: number;
}

/** Who or what caused a change, for its event in the store's outbox (core/outbox.ts). */
export interface CauseOptions {
  cause?: EventCause;
}

export interface RotateOptions extends CauseOptions {
  /** How long the old token keeps working, in ms. Default the manager's `rotationGrace`; 0 kills it at once. */
  grace?: number;
}

/** A raw token, or `{ id }` for callers that hold only the stored id (admin and service paths). */
export type SessionRef = string | { id: string };

export interface CreateSessionInput {
  userId: string;
  /**
   * A token made elsewhere with `generateToken` (for example express-session's
   * `genid`, which names the session before it is saved). Default: a new one.
   */
  token?: string;
  data?: SessionData;
  ip?: string | null;
  userAgent?: string | null;
  cause?: EventCause;
}

export interface IssuedSession {
  /** The bearer secret. Shown once; only its SHA-256 is stored. */
  token: string;
  session: Session;
}

export interface ReadOptions {
  /** Count the read as the user's activity and slide the idle expiry. Default true; inspection passes false. */
  touch?: boolean;
}

export interface SweepOptions {
  /** Largest batch one store call removes. Default 500. */
  batchSize?: number;
  archive?: ArchiveSink;
  /** Called after each batch with how many sessions the sweep has removed so far. */
  onBatch?: (removed: number) => void;
}

const MINUTE = 60_000;
export const SESSION_DEFAULTS = Object.freeze({
  idleTimeout: 30 * MINUTE,
  absoluteTimeout: 24 * 60 * MINUTE,
  touchThreshold: 0.1,
  rotationGrace: 30_000,
});
const MAX_USER_ID_LENGTH = 256;
/** Rotations of one session within one grace window that an old token still follows. */
const MAX_ALIAS_HOPS = 4;
const MAX_USER_AGENT_LENGTH = 512;

/**
 * The policy layer over a `SessionStore`: token issue and hashing, idle and
 * absolute timeouts, throttled touches, atomic patches, regeneration and
 * revocation, with lifecycle events.
 */
export class SessionManager {
  readonly store: SessionStore;
  readonly idleTimeout: number;
  readonly absoluteTimeout: number;
  readonly rotationInterval: number | undefined;
  readonly rotationGrace: number;
  readonly maxSessionsPerUser: number | undefined;
  readonly #touchThreshold: number;
  readonly #clock: () => number;
  readonly #random: RandomSource;
  readonly #events = new SessionEventEmitter();
  readonly #pendingTouches = new Map<string, Promise<void>>();

  constructor(options: SessionManagerOptions) {
    this.store = options.store;
    this.idleTimeout = positiveMs(
      options.idleTimeout ?? SESSION_DEFAULTS.idleTimeout,
      'idleTimeout',
    );
    this.absoluteTimeout = positiveMs(
      options.absoluteTimeout ?? SESSION_DEFAULTS.absoluteTimeout,
      'absoluteTimeout',
    );
    const threshold = options.touchThreshold ?? SESSION_DEFAULTS.touchThreshold;
    if (typeof threshold !== 'number' || !(threshold >= 0 && threshold <= 1)) {
      throw new ValidationError('touchThreshold must be a number between 0 and 1');
    }
    this.#touchThreshold = threshold;
    this.rotationInterval =
      options.rotationInterval === undefined
        ? undefined
        : positiveMs(options.rotationInterval, 'rotationInterval');
    this.rotationGrace = graceMs(
      options.rotationGrace ?? SESSION_DEFAULTS.rotationGrace,
      'rotationGrace',
    );
    this.maxSessionsPerUser =
      options.maxSessionsPerUser === undefined
        ? undefined
        : positiveCount(options.maxSessionsPerUser, 'maxSessionsPerUser');
    this.#clock = options.clock ?? Date.now;
    this.#random = options.random ?? cryptoRandom;
  }

  on<K extends SessionEventName>(name: K, listener: (event: SessionEvents[K]) => void): () => void {
    return this.#events.on(name, listener);
  }

  off<K extends SessionEventName>(name: K, listener: (event: SessionEvents[K]) => void): void {
    this.#events.off(name, listener);
  }

  async create(input: CreateSessionInput): Promise<IssuedSession> {
    if (typeof input !== 'object' || input === null)
      throw new ValidationError('create needs an input object');
    assertUserId(input.userId);
    const data = input.data ?? {};
    assertSessionData(data);
    const now = this.#clock();
    const token = input.token ?? generateToken(this.#random);
    const session: Session = {
      id: sessionIdOf(token),
      userId: input.userId,
      data,
      version: 1,
      createdAt: now,
      lastActiveAt: now,
      idleExpiresAt: now + this.idleTimeout,
      absoluteExpiresAt: now + this.absoluteTimeout,
      tokenIssuedAt: now,
      ip: normalizeIp(input.ip),
      userAgent: normalizeUserAgent(input.userAgent),
    };
    await this.store.create(session, causeOf(input));
    this.#events.emit('created', { session });
    await this.#evictBeyondBound(session);
    return { token, session };
  }

  /**
   * The live session for `ref`, or null. A read is activity: it slides the
   * idle expiry, writing in the background and only past the touch threshold.
   * A token rotated away within its grace window reads the rotated session
   * (whose `id` is then not the one of `ref`).
   */
  async get(ref: SessionRef, options: ReadOptions = {}): Promise<Session | null> {
    const now = this.#clock();
    const session = await this.#viaAlias(idOf(ref), now, (id) => this.store.get(id, now));
    if (!session || options.touch === false) return session;
    const idleExpiresAt = now + this.idleTimeout;
    if (idleExpiresAt - session.idleExpiresAt > this.idleTimeout * this.#touchThreshold) {
      this.#touchInBackground(session.id, { now, idleExpiresAt });
      return { ...session, lastActiveAt: now, idleExpiresAt };
    }
    return session;
  }

  /**
   * Applies a JSON Patch (plus `increment`) atomically in the store. Throws
   * `SessionNotFoundError`, `VersionConflictError` for a stale
   * `expectedVersion`, or a patch error; in each case nothing changed.
   */
  async patch(
    ref: SessionRef,
    ops: unknown,
    options: { expectedVersion?: number } & CauseOptions = {},
  ): Promise<Session> {
    const id = idOf(ref);
    const parsed = parsePatch(ops);
    const { expectedVersion } = options;
    if (
      expectedVersion !== undefined &&
      !(Number.isSafeInteger(expectedVersion) && expectedVersion >= 1)
    ) {
      throw new ValidationError('expectedVersion must be a positive integer');
    }
    const update = { ...this.#activity(), expectedVersion, ...causeOf(options) };
    const session = await this.#viaAlias(id, update.now, async (target) => {
      try {
        return await this.store.update(target, parsed, update);
      } catch (error) {
        if (error instanceof SessionNotFoundError) return null;
        throw error;
      }
    });
    if (!session) throw new SessionNotFoundError();
    this.#events.emit('updated', { session, previousVersion: session.version - 1 });
    return session;
  }

  /** Slides the idle expiry now, whatever the threshold. False if the session is gone. */
  async touch(ref: SessionRef): Promise<boolean> {
    const activity = this.#activity();
    const touched = await this.#viaAlias(idOf(ref), activity.now, async (id) =>
      (await this.store.touch(id, activity)) ? true : null,
    );
    return touched ?? false;
  }

  /**
   * Issues a new token for the same session data and kills the old token in
   * the same store step: call it on login and on every privilege change.
   * Through a token rotated away within its grace, it regenerates the rotated
   * session, so that no earlier token of the session survives it.
   */
  async regenerate(ref: SessionRef, options: CauseOptions = {}): Promise<IssuedSession> {
    const token = generateToken(this.#random);
    const activity = this.#activity();
    let previousId = idOf(ref);
    const session = await this.#viaAlias(previousId, activity.now, (id) => {
      previousId = id;
      return this.store.rename(id, sessionIdOf(token), activity, causeOf(options));
    });
    if (!session) throw new SessionNotFoundError();
    this.#events.emit('regenerated', { session, previousId });
    return { token, session };
  }

  /**
   * Scheduled rotation of a long-lived token: like `regenerate`, a new token
   * for the same session, but the old token keeps working (reads, patches,
   * touches and revocation act on the rotated session) for `grace` ms, so
   * that requests already in flight from other tabs do not fail. Not a
   * defence against fixation: use `regenerate` for logins and privilege changes.
   */
  async rotate(ref: SessionRef, options: RotateOptions = {}): Promise<IssuedSession> {
    const previousId = idOf(ref);
    const grace = graceMs(options.grace ?? this.rotationGrace, 'grace');
    const token = generateToken(this.#random);
    const activity = this.#activity();
    const session = await this.store.rename(
      previousId,
      sessionIdOf(token),
      activity,
      grace > 0 ? { aliasUntil: activity.now + grace, ...causeOf(options) } : causeOf(options),
    );
    if (!session) throw new SessionNotFoundError();
    this.#events.emit('regenerated', { session, previousId });
    return { token, session };
  }

  /** Whether the session's token is older than `interval` (default `rotationInterval`; never without one). */
  rotationDue(
    session: Pick<Session, 'tokenIssuedAt'>,
    interval: number | undefined = this.rotationInterval,
  ): boolean {
    return interval !== undefined && this.#clock() - session.tokenIssuedAt >= interval;
  }

  /** Ends a session at once. False if there was no live session. */
  async revoke(ref: SessionRef, options: CauseOptions = {}): Promise<boolean> {
    const id = idOf(ref);
    const now = this.#clock();
    const session = await this.#viaAlias(id, now, (target) => this.store.get(target, now));
    const deleted = await this.store.delete(session?.id ?? id, { ...causeOf(options), at: now });
    if (!session || !deleted) return false;
    this.#events.emit('revoked', { sessionId: session.id, userId: session.userId });
    return true;
  }

  /** Ends every session of a user, but `except` (typically the caller's own). Returns how many. */
  async revokeAllForUser(
    userId: string,
    options: { except?: SessionRef } & CauseOptions = {},
  ): Promise<number> {
    assertUserId(userId);
    const exceptId = options.except === undefined ? undefined : idOf(options.except);
    const ids = await this.store.deleteByUser(userId, exceptId, {
      ...causeOf(options),
      at: this.#clock(),
    });
    for (const sessionId of ids) this.#events.emit('revoked', { sessionId, userId });
    return ids.length;
  }

  async listForUser(userId: string): Promise<Session[]> {
    assertUserId(userId);
    return this.store.listByUser(userId, this.#clock());
  }

  /**
   * Removes expired sessions in bounded batches until none is left, emitting
   * `expired` for each. Stores with native expiry have little to do here.
   */
  async sweepExpired(options: SweepOptions = {}): Promise<number> {
    const batchSize = options.batchSize ?? 500;
    if (!(Number.isSafeInteger(batchSize) && batchSize > 0)) {
      throw new ValidationError('batchSize must be a positive integer');
    }
    let total = 0;
    for (;;) {
      const batch = await this.store.sweepExpired(this.#clock(), batchSize, options.archive);
      for (const session of batch) this.#events.emit('expired', { session });
      total += batch.length;
      options.onBatch?.(total);
      if (batch.length < batchSize) return total;
    }
  }

  /** How many sessions are live now, as the store counts them (see `SessionStore.countLive`). */
  async countLive(): Promise<number> {
    return this.store.countLive(this.#clock());
  }

  /** Resolves when every background touch started so far has finished. */
  async settle(): Promise<void> {
    await Promise.all(this.#pendingTouches.values());
  }

  /** Waits for background work, then closes the store. */
  async close(): Promise<void> {
    await this.settle();
    await this.store.close();
  }

  /**
   * `run(id)`; on a miss (null), again with the id `id` was rotated to, if it
   * is an alias still in its grace window, following rotations that happened
   * within one grace (another tab rotating the new token) up to a bound.
   */
  async #viaAlias<T>(id: string, now: number, run: (id: string) => Promise<T | null>) {
    let current = id;
    for (let hop = 0; ; hop++) {
      const result = await run(current);
      if (result !== null || hop === MAX_ALIAS_HOPS) return result;
      const target = await this.store.resolveAlias(current, now);
      if (target === null) return null;
      current = target;
    }
  }

  /**
   * Revokes the user's sessions beyond `maxSessionsPerUser`, earliest created
   * first, keeping `created`. Creation order rather than last activity, so
   * that a stolen session kept busy by its thief still gives way to the
   * owner's new logins. Concurrent creates may both evict: each removes only
   * what it saw beyond the bound, so the user ends at or just under it.
   */
  async #evictBeyondBound(created: Session): Promise<void> {
    const max = this.maxSessionsPerUser;
    if (max === undefined) return;
    const others = (await this.store.listByUser(created.userId, created.createdAt)).filter(
      (session) => session.id !== created.id,
    );
    const excess = others.length + 1 - max;
    if (excess <= 0) return;
    others.sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
    for (const session of others.slice(0, excess)) {
      if (await this.store.delete(session.id, { ...EVICTED, at: created.createdAt })) {
        this.#events.emit('revoked', {
          sessionId: session.id,
          userId: session.userId,
          reason: 'evicted',
        });
      }
    }
  }

  #activity() {
    const now = this.#clock();
    return { now, idleExpiresAt: now + this.idleTimeout };
  }

  #touchInBackground(id: string, activity: { now: number; idleExpiresAt: number }): void {
    if (this.#pendingTouches.has(id)) return;
    // Started inside a promise so that even a store throwing synchronously cannot fail the read.
    const pending = Promise.resolve()
      .then(() => this.store.touch(id, activity))
      .then(
        () => undefined,
        (error: unknown) => this.#events.emit('error', { error }),
      )
      .finally(() => this.#pendingTouches.delete(id));
    this.#pendingTouches.set(id, pending);
  }
}

const EVICTED: WriteOptions = { cause: { actor: 'system', reason: 'evicted' } };

function causeOf(options: CauseOptions): WriteOptions {
  return options.cause ? { cause: options.cause } : {};
}

function idOf(ref: SessionRef): string {
  if (typeof ref !== 'object' || ref === null) return sessionIdOf(ref);
  if (typeof ref.id === 'string' && /^[0-9a-f]{64}$/.test(ref.id)) return ref.id;
  throw new ValidationError('a session reference is a token or { id } with a 64-character hex id');
}

function assertUserId(userId: unknown): asserts userId is string {
  if (typeof userId !== 'string' || userId.length === 0 || userId.length > MAX_USER_ID_LENGTH) {
    throw new ValidationError(
      `userId must be a non-empty string of at most ${MAX_USER_ID_LENGTH} characters`,
    );
  }
}

function normalizeIp(ip: unknown): string | null {
  if (ip === undefined || ip === null) return null;
  if (typeof ip !== 'string' || isIP(ip) === 0)
    throw new ValidationError('ip must be an IPv4 or IPv6 address');
  return ip;
}

function normalizeUserAgent(userAgent: unknown): string | null {
  if (userAgent === undefined || userAgent === null) return null;
  if (typeof userAgent !== 'string') throw new ValidationError('userAgent must be a string');
  // Clients choose this header; an oversized one is cut, not allowed to break a login,
  // and never through the middle of a surrogate pair.
  const cut = userAgent.slice(0, MAX_USER_AGENT_LENGTH);
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}

function graceMs(value: number, name: string): number {
  if (!(Number.isSafeInteger(value) && value >= 0))
    throw new ValidationError(`${name} must be a non-negative integer of ms`);
  return value;
}

function positiveCount(value: number, name: string): number {
  if (!(Number.isSafeInteger(value) && value > 0))
    throw new ValidationError(`${name} must be a positive integer`);
  return value;
}

function positiveMs(value: number, name: string): number {
  if (!(Number.isSafeInteger(value) && value > 0))
    throw new ValidationError(`${name} must be a positive integer of ms`);
  return value;
}
