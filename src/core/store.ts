import type { Outbox, WriteOptions } from './outbox.js';
import type { PatchOperation } from './patch.js';
import type { Session } from './session.js';

/**
 * The persistence contract every backend implements and the conformance suite
 * checks. Stores keep only ids (SHA-256 of tokens), never tokens. `now` is
 * passed in by the caller so that one injected clock governs expiry everywhere.
 */
export interface SessionStore {
  /**
   * Present when the store keeps a transactional outbox (opened with
   * `outbox`): then every write below records its lifecycle event in the
   * same atomic step (see core/outbox.ts), and `sweepExpired` a
   * `session.expired` per session it removes. Touches record none.
   */
  readonly outbox?: Outbox;
  /** Throws `SessionExistsError` if the id is taken. */
  create(session: Session, options?: WriteOptions): Promise<void>;
  /** Null for a missing or expired session: expiry is enforced on read. */
  get(id: string, now: number): Promise<Session | null>;
  /**
   * Applies `ops` atomically, bumps `version` and records the activity.
   * Throws `SessionNotFoundError`, `VersionConflictError` or a patch error, in
   * which case nothing was written.
   */
  update(id: string, ops: readonly PatchOperation[], options: UpdateOptions): Promise<Session>;
  /** Moves the idle expiry without rewriting data. False if the session is gone. */
  touch(id: string, activity: Activity): Promise<boolean>;
  /**
   * Moves a live session to a new id in one step, so the old id is dead the
   * moment the new one exists (session-fixation defence). Null if `fromId` is gone.
   * With `aliasUntil`, the same step also records `fromId` as an alias of
   * `toId` until that moment (ms), for `resolveAlias`: a token rotation whose
   * old token keeps working for a grace window. At no moment does neither
   * id lead to the session.
   */
  rename(
    fromId: string,
    toId: string,
    activity: Activity,
    options?: RenameOptions,
  ): Promise<Session | null>;
  /** The id `id` was renamed to, while the alias recorded by `rename` is live; else null. */
  resolveAlias(id: string, now: number): Promise<string | null>;
  /** False if there was nothing to delete. */
  delete(id: string, options?: WriteOptions): Promise<boolean>;
  /** Live sessions of a user, newest first, from an index (not a scan). */
  listByUser(userId: string, now: number): Promise<Session[]>;
  /** Deletes every session of a user but `exceptId`; returns the ids deleted. */
  deleteByUser(userId: string, exceptId?: string, options?: WriteOptions): Promise<string[]>;
  /**
   * Removes up to `limit` expired sessions, handing them to `archive` first
   * (so a failing archive deletes nothing). Returns the sessions removed; a
   * batch shorter than `limit` means nothing expired is left. Stores that keep
   * aliases in a table also drop the expired aliases here.
   */
  sweepExpired(now: number, limit: number, archive?: ArchiveSink): Promise<Session[]>;
  /**
   * Live sessions a page at a time, in a stable order, for copying a store
   * while it serves. Start with a null cursor; a null `cursor` in the result
   * means the scan is complete.
   */
  scan(cursor: string | null, limit: number, now: number): Promise<ScanPage>;
  /**
   * How many sessions are live at `now`, for gauges, counted without reading
   * records (an indexed count in SQL). Exact in the SQL and memory stores; a
   * store that keeps expiry in a separate index counts what that index holds
   * (see `RedisStore.countLive`).
   */
  countLive(now: number): Promise<number>;
  /**
   * The connections of the store's pool, for saturation gauges; absent (or
   * undefined) where the store has no pool of its own.
   */
  poolStats?(): PoolStats | undefined;
  close(): Promise<void>;
}

/** A connection pool at one moment. */
export interface PoolStats {
  /** The pool's size. */
  max: number;
  /** Connections open, idle or in use. */
  total: number;
  /** Connections open and not in use. */
  idle: number;
  /** Requests waiting for a connection. */
  waiting: number;
}

export interface ScanPage {
  sessions: Session[];
  cursor: string | null;
}

export interface Activity {
  now: number;
  idleExpiresAt: number;
}

export interface UpdateOptions extends Activity, WriteOptions {
  /** The update is refused with `VersionConflictError` unless this is current. */
  expectedVersion?: number;
}

export interface RenameOptions extends WriteOptions {
  /** Keep `fromId` as an alias of `toId` until this moment, in ms since the epoch. */
  aliasUntil?: number;
}

/** Receives sessions just before a sweep deletes them, for a cold audit tier. */
export type ArchiveSink = (sessions: readonly Session[]) => Promise<void>;
