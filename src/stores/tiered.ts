import {
  type Activity,
  type ArchiveSink,
  type Outbox,
  type PatchOperation,
  type PoolStats,
  type RenameOptions,
  type ScanPage,
  type Session,
  SessionExistsError,
  type SessionStore,
  type UpdateOptions,
  type WriteOptions,
} from '../core/index.js';

export interface TieredStoreOptions {
  /**
   * Apply touches to the hot tier at once and to the durable tier in
   * coalesced batches every `interval` ms. Only touches: data writes are never
   * deferred. A durable tier that lags by up to one interval can only make a
   * session expire that much sooner after a hot-tier loss.
   */
  touchWriteBehind?: { interval: number };
  /**
   * Called when the hot tier fails (the request is then served by the durable
   * tier) or a deferred touch cannot be written.
   */
  onError?: (error: unknown, operation: string) => void;
}

/**
 * A fast, volatile tier (Redis) in front of an authoritative one (PostgreSQL).
 * Reads go to the hot tier and fall back to the durable tier, refilling the
 * hot one. Writes go to the durable tier first; the hot copy is then dropped
 * rather than overwritten, so two writers finishing in either order can never
 * leave an older version in the hot tier. The hot tier failing degrades to the
 * durable tier; nothing acknowledged lives only in the hot tier.
 */
export class TieredStore implements SessionStore {
  readonly hot: SessionStore;
  readonly durable: SessionStore;
  readonly #onError: (error: unknown, operation: string) => void;
  readonly #pendingTouches = new Map<string, Activity>();
  /** Ids whose hot copy could not be dropped: known stale, read from the durable tier until dropped. */
  readonly #staleInHot = new Set<string>();
  readonly #flushTimer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #retrying = false;

  constructor(hot: SessionStore, durable: SessionStore, options: TieredStoreOptions = {}) {
    this.hot = hot;
    this.durable = durable;
    this.#onError = options.onError ?? (() => {});
    if (options.touchWriteBehind) {
      this.#flushTimer = setInterval(
        () => this.flushTouches().catch((error: unknown) => this.#onError(error, 'flushTouches')),
        options.touchWriteBehind.interval,
      );
      this.#flushTimer.unref();
    }
  }

  /** The durable tier's: events are recorded where the sessions are kept. */
  get outbox(): Outbox | undefined {
    return this.durable.outbox;
  }

  async create(session: Session, options?: WriteOptions): Promise<void> {
    await this.durable.create(session, options);
    await this.#hot('create', (hot) => hot.create(session));
  }

  async get(id: string, now: number): Promise<Session | null> {
    if (this.#staleInHot.has(id)) await this.#evict(id);
    const cached = this.#staleInHot.has(id)
      ? null
      : await this.#hot('get', (hot) => hot.get(id, now));
    if (cached) return cached;
    const session = await this.durable.get(id, now);
    if (session) await this.#refill(session, now);
    return session;
  }

  async update(
    id: string,
    ops: readonly PatchOperation[],
    options: UpdateOptions,
  ): Promise<Session> {
    const session = await this.durable.update(id, ops, options);
    await this.#evict(id);
    return session;
  }

  async touch(id: string, activity: Activity): Promise<boolean> {
    if (!this.#flushTimer) {
      const touched = await this.durable.touch(id, activity);
      await this.#hot('touch', (hot) => hot.touch(id, activity));
      return touched;
    }
    const inHot = await this.#hot('touch', (hot) => hot.touch(id, activity));
    if (!inHot && !(await this.durable.get(id, activity.now))) return false;
    const pending = this.#pendingTouches.get(id);
    if (!pending || pending.idleExpiresAt < activity.idleExpiresAt)
      this.#pendingTouches.set(id, activity);
    return true;
  }

  /** The durable tier moves the session and keeps the alias; the hot copy of the old id is dropped. */
  async rename(
    fromId: string,
    toId: string,
    activity: Activity,
    options?: RenameOptions,
  ): Promise<Session | null> {
    await this.flushTouches();
    const session = await this.durable.rename(fromId, toId, activity, options);
    await this.#evict(fromId);
    return session;
  }

  async resolveAlias(id: string, now: number): Promise<string | null> {
    return this.durable.resolveAlias(id, now);
  }

  async delete(id: string, options?: WriteOptions): Promise<boolean> {
    this.#pendingTouches.delete(id);
    const deleted = await this.durable.delete(id, options);
    await this.#evict(id);
    return deleted;
  }

  async listByUser(userId: string, now: number): Promise<Session[]> {
    return this.durable.listByUser(userId, now);
  }

  async deleteByUser(userId: string, exceptId?: string, options?: WriteOptions): Promise<string[]> {
    const ids = await this.durable.deleteByUser(userId, exceptId, options);
    await Promise.all(ids.map((id) => this.#evict(id)));
    return ids;
  }

  async sweepExpired(now: number, limit: number, archive?: ArchiveSink): Promise<Session[]> {
    await this.flushTouches();
    const swept = await this.durable.sweepExpired(now, limit, archive);
    await Promise.all(swept.map((session) => this.#evict(session.id)));
    // The hot tier's own expiry bookkeeping needs its sweep too; the durable tier already archived.
    await this.#hot('sweep', (hot) => hot.sweepExpired(now, limit));
    return swept;
  }

  /** Writes deferred touches to the durable tier now. */
  async flushTouches(): Promise<void> {
    this.#flushing = this.#flushing
      .catch(() => {})
      .then(async () => {
        const batch = [...this.#pendingTouches];
        this.#pendingTouches.clear();
        await Promise.all(batch.map(([id, activity]) => this.durable.touch(id, activity)));
      });
    return this.#flushing;
  }

  async scan(cursor: string | null, limit: number, now: number): Promise<ScanPage> {
    return this.durable.scan(cursor, limit, now);
  }

  /** The durable tier's count, once the deferred touches it has not seen yet are written. */
  /** The durable store's pool, which every write and every miss of the hot tier waits for. */
  poolStats(): PoolStats | undefined {
    return this.durable.poolStats?.();
  }

  async countLive(now: number): Promise<number> {
    await this.flushTouches();
    return this.durable.countLive(now);
  }

  async close(): Promise<void> {
    clearInterval(this.#flushTimer);
    await this.flushTouches();
    await Promise.all([this.hot.close(), this.durable.close()]);
  }

  /*
   * A refill races with writers: it may have read the durable tier just
   * before a write (or a revoke) whose eviction then ran before the refill
   * landed. Re-reading the durable tier after the refill closes that window:
   * either the re-read sees the write and the refill is undone, or the write
   * happened after the re-read, and its eviction comes after the refill.
   */
  async #refill(session: Session, now: number): Promise<void> {
    const filled = await this.#hot('refill', async (hot) => {
      try {
        await hot.create(session);
        return true;
      } catch (error) {
        if (error instanceof SessionExistsError) return false;
        throw error;
      }
    });
    if (!filled) return;
    const current = await this.durable.get(session.id, now);
    if (!current || current.version !== session.version) await this.#evict(session.id);
  }

  async #evict(id: string): Promise<void> {
    const evicted = await this.#hot('evict', async (hot) => {
      await hot.delete(id);
      return true;
    });
    if (evicted) this.#staleInHot.delete(id);
    else this.#staleInHot.add(id);
  }

  async #hot<T>(operation: string, run: (hot: SessionStore) => Promise<T>): Promise<T | null> {
    try {
      const result = await run(this.hot);
      if (this.#staleInHot.size > 0 && operation !== 'evict') void this.#retryEvictions();
      return result;
    } catch (error) {
      this.#onError(error, operation);
      return null;
    }
  }

  /** Once the hot tier answers again, drop the copies that writes during its outage could not. */
  async #retryEvictions(): Promise<void> {
    if (this.#retrying) return;
    this.#retrying = true;
    try {
      for (const id of [...this.#staleInHot]) if (this.#staleInHot.has(id)) await this.#evict(id);
    } finally {
      this.#retrying = false;
    }
  }
}
