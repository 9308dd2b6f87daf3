import { performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';
import {
  type Activity,
  type ArchiveSink,
  type InvalidationBus,
  isExpired,
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

export interface NearCacheOptions {
  /** Most sessions cached in this process. Default 10,000. */
  max?: number;
  /**
   * Longest a cached copy is served without asking the store, in ms: the
   * staleness bound if an invalidation message is lost. Default 5,000.
   */
  ttl?: number;
  /** Without a bus, other instances' writes are seen only after `ttl`. */
  bus?: InvalidationBus;
  /** A failed publish does not fail the write (it is done); it is reported here, and `ttl` bounds the staleness. */
  onError?: (error: unknown) => void;
}

interface Entry {
  session: Session;
  cachedAt: number;
}

/**
 * A bounded in-process cache in front of any store, for read-heavy paths.
 * Every write goes to the store, drops the local copy and tells the other
 * instances to drop theirs; reads are served locally while fresh.
 */
export class NearCache implements SessionStore {
  readonly store: SessionStore;
  readonly #entries: LRUCache<string, Entry>;
  readonly #ttl: number;
  readonly #bus: InvalidationBus | undefined;
  readonly #onError: (error: unknown) => void;
  /** Bumped by every invalidation; a read that saw it move does not cache what it fetched. */
  #generation = 0;

  private constructor(store: SessionStore, options: NearCacheOptions) {
    this.store = store;
    this.#entries = new LRUCache({ max: options.max ?? 10_000 });
    this.#ttl = options.ttl ?? 5_000;
    this.#bus = options.bus;
    this.#onError = options.onError ?? (() => {});
  }

  static async create(store: SessionStore, options: NearCacheOptions = {}): Promise<NearCache> {
    const cache = new NearCache(store, options);
    await cache.#bus?.subscribe((id) => cache.#drop(id));
    return cache;
  }

  get outbox(): Outbox | undefined {
    return this.store.outbox;
  }

  async create(session: Session, options?: WriteOptions): Promise<void> {
    await this.store.create(session, options);
  }

  async get(id: string, now: number): Promise<Session | null> {
    const entry = this.#entries.get(id);
    if (entry && performance.now() - entry.cachedAt < this.#ttl && !isExpired(entry.session, now)) {
      return structuredClone(entry.session);
    }
    const generation = this.#generation;
    const session = await this.store.get(id, now);
    if (session && generation === this.#generation) {
      this.#entries.set(id, { session: structuredClone(session), cachedAt: performance.now() });
    }
    return session;
  }

  async update(
    id: string,
    ops: readonly PatchOperation[],
    options: UpdateOptions,
  ): Promise<Session> {
    try {
      return await this.store.update(id, ops, options);
    } finally {
      await this.#invalidate(id);
    }
  }

  /** Touches change only the idle expiry; other instances re-read once their copy looks expired. */
  async touch(id: string, activity: Activity): Promise<boolean> {
    const touched = await this.store.touch(id, activity);
    const entry = this.#entries.peek(id);
    if (entry && touched) {
      entry.session.lastActiveAt = Math.max(entry.session.lastActiveAt, activity.now);
      entry.session.idleExpiresAt = Math.max(entry.session.idleExpiresAt, activity.idleExpiresAt);
    }
    return touched;
  }

  async rename(
    fromId: string,
    toId: string,
    activity: Activity,
    options?: RenameOptions,
  ): Promise<Session | null> {
    try {
      return await this.store.rename(fromId, toId, activity, options);
    } finally {
      await this.#invalidate(fromId);
    }
  }

  /** Not cached: an alias is asked for only on a miss, and lives for seconds. */
  async resolveAlias(id: string, now: number): Promise<string | null> {
    return this.store.resolveAlias(id, now);
  }

  async delete(id: string, options?: WriteOptions): Promise<boolean> {
    try {
      return await this.store.delete(id, options);
    } finally {
      await this.#invalidate(id);
    }
  }

  async listByUser(userId: string, now: number): Promise<Session[]> {
    return this.store.listByUser(userId, now);
  }

  async deleteByUser(userId: string, exceptId?: string, options?: WriteOptions): Promise<string[]> {
    const ids = await this.store.deleteByUser(userId, exceptId, options);
    await Promise.all(ids.map((id) => this.#invalidate(id)));
    return ids;
  }

  async sweepExpired(now: number, limit: number, archive?: ArchiveSink): Promise<Session[]> {
    const swept = await this.store.sweepExpired(now, limit, archive);
    for (const session of swept) this.#drop(session.id);
    return swept;
  }

  async scan(cursor: string | null, limit: number, now: number): Promise<ScanPage> {
    return this.store.scan(cursor, limit, now);
  }

  /** The wrapped store's count: the cache holds only a subset. */
  async countLive(now: number): Promise<number> {
    return this.store.countLive(now);
  }

  poolStats(): PoolStats | undefined {
    return this.store.poolStats?.();
  }

  async close(): Promise<void> {
    this.#entries.clear();
    await this.#bus?.close();
    await this.store.close();
  }

  async #invalidate(id: string): Promise<void> {
    this.#drop(id);
    try {
      await this.#bus?.publish(id);
    } catch (error) {
      this.#onError(error);
    }
  }

  #drop(id: string | null): void {
    this.#generation++;
    if (id === null) this.#entries.clear();
    else this.#entries.delete(id);
  }
}
