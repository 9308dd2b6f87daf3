import { performance } from 'node:perf_hooks';
import {
  type Activity,
  type ArchiveSink,
  ClawsessionError,
  type Outbox,
  type PatchOperation,
  type PoolStats,
  type RenameOptions,
  type ScanPage,
  type Session,
  type SessionStore,
  type UpdateOptions,
  type WriteOptions,
} from '../core/index.js';

/** The store operations an `InstrumentedStore` reports: every method but `close`. */
export type StoreOperation = Exclude<keyof SessionStore, 'close'>;

/** Receives one report per store operation; keeps stores free of any metrics library. */
export interface StoreObserver {
  /**
   * Called when an operation settles, with how long it took in seconds and,
   * if it threw, the error's code: a `ClawsessionError`'s own (expected
   * outcomes such as `ERR_SESSION_EXISTS` included; `isStoreFault` tells
   * them from faults such as `ERR_STORE_UNAVAILABLE`), else `ERR_INTERNAL`.
   * Must not throw.
   */
  onOperation(operation: StoreOperation, seconds: number, errorCode: string | null): void;
}

/**
 * Codes a store throws for what it was asked, not for how it is: the store
 * answered, and said no (a stale version, a failed `test`, a patch that does
 * not apply, data over the size cap, a missing or taken id).
 */
const CLIENT_OUTCOMES: ReadonlySet<string> = new Set([
  'ERR_SESSION_NOT_FOUND',
  'ERR_SESSION_EXISTS',
  'ERR_SESSION_VERSION_CONFLICT',
  'ERR_SESSION_DATA_TOO_LARGE',
  'ERR_SESSION_TOKEN_INVALID',
  'ERR_VALIDATION',
  'ERR_PATCH_MALFORMED',
  'ERR_PATCH_FORBIDDEN_PATH',
  'ERR_PATCH_TARGET',
  'ERR_PATCH_TEST_FAILED',
]);

/**
 * Whether an error code an observer was given is a fault of the store (it
 * could not be reached, it broke, its data cannot be read) rather than a
 * refusal of what the caller asked. Codes not known to be refusals are
 * faults, so that an alert on faults errs towards firing.
 */
export function isStoreFault(errorCode: string): boolean {
  return !CLIENT_OUTCOMES.has(errorCode);
}

/**
 * A `SessionStore` decorator that times every operation of the store it
 * wraps and reports it, with the error code of each failure, to an observer.
 * Results and errors pass through unchanged.
 */
export class InstrumentedStore implements SessionStore {
  readonly store: SessionStore;
  readonly #observer: StoreObserver;

  constructor(store: SessionStore, observer: StoreObserver) {
    this.store = store;
    this.#observer = observer;
  }

  get outbox(): Outbox | undefined {
    return this.store.outbox;
  }

  create(session: Session, options?: WriteOptions): Promise<void> {
    return this.#timed('create', () => this.store.create(session, options));
  }

  get(id: string, now: number): Promise<Session | null> {
    return this.#timed('get', () => this.store.get(id, now));
  }

  update(id: string, ops: readonly PatchOperation[], options: UpdateOptions): Promise<Session> {
    return this.#timed('update', () => this.store.update(id, ops, options));
  }

  touch(id: string, activity: Activity): Promise<boolean> {
    return this.#timed('touch', () => this.store.touch(id, activity));
  }

  rename(
    fromId: string,
    toId: string,
    activity: Activity,
    options?: RenameOptions,
  ): Promise<Session | null> {
    return this.#timed('rename', () => this.store.rename(fromId, toId, activity, options));
  }

  resolveAlias(id: string, now: number): Promise<string | null> {
    return this.#timed('resolveAlias', () => this.store.resolveAlias(id, now));
  }

  delete(id: string, options?: WriteOptions): Promise<boolean> {
    return this.#timed('delete', () => this.store.delete(id, options));
  }

  listByUser(userId: string, now: number): Promise<Session[]> {
    return this.#timed('listByUser', () => this.store.listByUser(userId, now));
  }

  deleteByUser(userId: string, exceptId?: string, options?: WriteOptions): Promise<string[]> {
    return this.#timed('deleteByUser', () => this.store.deleteByUser(userId, exceptId, options));
  }

  sweepExpired(now: number, limit: number, archive?: ArchiveSink): Promise<Session[]> {
    return this.#timed('sweepExpired', () => this.store.sweepExpired(now, limit, archive));
  }

  scan(cursor: string | null, limit: number, now: number): Promise<ScanPage> {
    return this.#timed('scan', () => this.store.scan(cursor, limit, now));
  }

  poolStats(): PoolStats | undefined {
    return this.store.poolStats?.();
  }

  countLive(now: number): Promise<number> {
    return this.#timed('countLive', () => this.store.countLive(now));
  }

  close(): Promise<void> {
    return this.store.close();
  }

  async #timed<T>(operation: StoreOperation, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const result = await run();
      this.#observer.onOperation(operation, secondsSince(started), null);
      return result;
    } catch (error) {
      this.#observer.onOperation(operation, secondsSince(started), errorCodeOf(error));
      throw error;
    }
  }
}

function secondsSince(started: number): number {
  return (performance.now() - started) / 1000;
}

/** A stable, bounded label: codes of other errors (driver, system) are not ours to promise. */
function errorCodeOf(error: unknown): string {
  return error instanceof ClawsessionError ? error.code : 'ERR_INTERNAL';
}
