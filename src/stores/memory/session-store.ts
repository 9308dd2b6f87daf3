import { LRUCache } from 'lru-cache';
import { outboxInstance } from '../../core/backend-kit.js';
import {
  type Activity,
  type ArchiveSink,
  createCodec,
  createdEvent,
  type EventStamp,
  expiredEvent,
  isExpired,
  type OutboxEvent,
  type PatchOperation,
  type RenameOptions,
  renamedEvent,
  renamedSession,
  revokedEvent,
  type ScanPage,
  type Session,
  type SessionCodec,
  SessionExistsError,
  SessionNotFoundError,
  type SessionStore,
  type UpdateOptions,
  updatedEvent,
  updatedSession,
  type WriteOptions,
} from '../../core/index.js';
import { MemoryOutbox, type MemoryOutboxOptions } from './outbox.js';

export interface MemoryStoreOptions {
  /** Most sessions kept; the least recently used one goes first. Default 10,000. */
  max?: number;
  codec?: SessionCodec;
  /** Keep an outbox (`true` for the defaults): each write records its event there in the same step. */
  outbox?: MemoryOutboxOptions | true;
}

/**
 * A session whose data is kept encoded, so nothing the caller holds aliases
 * the store, with the count of its events (`OutboxEvent.sequence`).
 */
type Entry = Omit<Session, 'data'> & { data: Uint8Array; eventSequence: number };

/**
 * A bounded in-process store for tests, development and single-instance
 * deployments. Sessions are lost when the process exits.
 */
export class MemoryStore implements SessionStore {
  readonly outbox?: MemoryOutbox;
  readonly #instance: string | null;
  readonly #codec: SessionCodec;
  readonly #entries: LRUCache<string, Entry>;
  readonly #idsByUser = new Map<string, Set<string>>();
  /** Rotated-away ids: the id they moved to and until when the alias holds. */
  readonly #aliases = new Map<string, { to: string; until: number }>();

  constructor(options: MemoryStoreOptions = {}) {
    this.#codec = options.codec ?? createCodec();
    this.#instance = outboxInstance(options.outbox);
    if (this.#instance !== null)
      this.outbox = new MemoryOutbox(options.outbox === true ? {} : options.outbox);
    this.#entries = new LRUCache<string, Entry>({
      max: options.max ?? 10_000,
      dispose: (entry, id, reason) => {
        if (reason === 'evict' || reason === 'delete') this.#unindex(entry.userId, id);
      },
    });
  }

  async create(session: Session, options?: WriteOptions): Promise<void> {
    if (this.#entries.has(session.id)) throw new SessionExistsError();
    const stamp = this.#stamp(options, session.createdAt, 0);
    this.#put(session, stamp?.sequence ?? 0);
    if (stamp) this.#record(createdEvent(session, stamp));
  }

  async get(id: string, now: number): Promise<Session | null> {
    const entry = this.#live(id, now);
    return entry ? this.#decode(entry) : null;
  }

  async update(
    id: string,
    ops: readonly PatchOperation[],
    options: UpdateOptions,
  ): Promise<Session> {
    const entry = this.#live(id, options.now);
    if (!entry) throw new SessionNotFoundError();
    const next = updatedSession(this.#decode(entry), ops, options);
    const stamp = this.#stamp(options, options.now, entry.eventSequence);
    this.#put(next, stamp?.sequence ?? entry.eventSequence);
    if (stamp) this.#record(updatedEvent(next, ops, stamp));
    return next;
  }

  async touch(id: string, activity: Activity): Promise<boolean> {
    const entry = this.#live(id, activity.now);
    if (!entry) return false;
    entry.lastActiveAt = Math.max(entry.lastActiveAt, activity.now);
    entry.idleExpiresAt = Math.max(entry.idleExpiresAt, activity.idleExpiresAt);
    return true;
  }

  async rename(
    fromId: string,
    toId: string,
    activity: Activity,
    options: RenameOptions = {},
  ): Promise<Session | null> {
    const entry = this.#live(fromId, activity.now);
    if (!entry) return null;
    if (this.#entries.has(toId)) throw new SessionExistsError();
    const next = renamedSession(this.#decode(entry), toId, activity);
    const stamp = this.#stamp(options, activity.now, entry.eventSequence);
    this.#entries.delete(fromId);
    this.#put(next, stamp?.sequence ?? entry.eventSequence);
    if (stamp) this.#record(renamedEvent(next, fromId, options.aliasUntil, stamp));
    // Aliases come in roughly in the order they end: drop the ended ones at the front.
    for (const [id, alias] of this.#aliases) {
      if (activity.now < alias.until) break;
      this.#aliases.delete(id);
    }
    if (options.aliasUntil !== undefined && options.aliasUntil > activity.now) {
      this.#aliases.delete(fromId);
      this.#aliases.set(fromId, { to: toId, until: options.aliasUntil });
    }
    return next;
  }

  async resolveAlias(id: string, now: number): Promise<string | null> {
    const alias = this.#aliases.get(id);
    if (!alias) return null;
    if (now < alias.until) return alias.to;
    this.#aliases.delete(id);
    return null;
  }

  async delete(id: string, options?: WriteOptions): Promise<boolean> {
    const entry = this.#entries.peek(id);
    if (!entry) return false;
    this.#entries.delete(id);
    this.#recordRevoked([entry], options);
    return true;
  }

  async listByUser(userId: string, now: number): Promise<Session[]> {
    const sessions: Session[] = [];
    for (const id of this.#idsByUser.get(userId) ?? []) {
      const entry = this.#entries.peek(id);
      if (entry && !isExpired(entry, now)) sessions.push(this.#decode(entry));
    }
    return sessions.sort((a, b) => b.createdAt - a.createdAt || a.id.localeCompare(b.id));
  }

  async deleteByUser(userId: string, exceptId?: string, options?: WriteOptions): Promise<string[]> {
    const ids = [...(this.#idsByUser.get(userId) ?? [])].filter((id) => id !== exceptId);
    const deleted: Entry[] = [];
    for (const id of ids) {
      const entry = this.#entries.peek(id);
      if (entry && this.#entries.delete(id)) deleted.push(entry);
    }
    this.#recordRevoked(deleted, options);
    return ids;
  }

  async sweepExpired(now: number, limit: number, archive?: ArchiveSink): Promise<Session[]> {
    const expired: Session[] = [];
    for (const entry of this.#entries.rvalues()) {
      if (expired.length >= limit) break;
      if (entry && isExpired(entry, now)) expired.push(this.#decode(entry));
    }
    for (const [id, alias] of this.#aliases) if (now >= alias.until) this.#aliases.delete(id);
    if (archive && expired.length > 0) await archive(expired);
    const events: OutboxEvent[] = [];
    for (const session of expired) {
      const entry = this.#entries.peek(session.id);
      if (!entry || !isExpired(entry, now)) continue;
      this.#entries.delete(session.id);
      const stamp = this.#stamp(undefined, now, entry.eventSequence);
      if (stamp) events.push(expiredEvent(session, stamp));
    }
    this.#record(...events);
    return expired;
  }

  async scan(cursor: string | null, limit: number, now: number): Promise<ScanPage> {
    const ids = [...this.#entries.keys()].filter((id) => cursor === null || id > cursor).sort();
    const page = ids.slice(0, limit);
    const sessions: Session[] = [];
    for (const id of page) {
      const entry = this.#entries.peek(id);
      if (entry && !isExpired(entry, now)) sessions.push(this.#decode(entry));
    }
    return { sessions, cursor: ids.length > limit ? (page.at(-1) as string) : null };
  }

  /** Counts by walking the entries: memory holds at most `max` of them. */
  async countLive(now: number): Promise<number> {
    let live = 0;
    for (const entry of this.#entries.values()) if (!isExpired(entry, now)) live++;
    return live;
  }

  async close(): Promise<void> {
    this.#entries.clear();
    this.#aliases.clear();
  }

  #live(id: string, now: number): Entry | undefined {
    const entry = this.#entries.get(id);
    return entry && !isExpired(entry, now) ? entry : undefined;
  }

  /** The stamp of a write's event, its sequence one past `sequence`; null when it records none. */
  #stamp(options: WriteOptions | undefined, time: number, sequence: number): EventStamp | null {
    if (this.#instance === null || options?.silent) return null;
    return {
      instance: this.#instance,
      time,
      sequence: sequence + 1,
      cause: options?.cause,
      codec: this.#codec,
    };
  }

  #record(...events: OutboxEvent[]): void {
    if (events.length > 0) this.outbox?.record(events);
  }

  #recordRevoked(entries: readonly Entry[], options: WriteOptions | undefined): void {
    const time = options?.at ?? Date.now();
    const events: OutboxEvent[] = [];
    for (const entry of entries) {
      const stamp = this.#stamp(options, time, entry.eventSequence);
      if (stamp) events.push(revokedEvent(entry, stamp));
    }
    this.#record(...events);
  }

  #put(session: Session, eventSequence: number): void {
    this.#entries.set(session.id, {
      ...session,
      data: this.#codec.encode(session.id, session.data),
      eventSequence,
    });
    const ids = this.#idsByUser.get(session.userId) ?? new Set();
    this.#idsByUser.set(session.userId, ids.add(session.id));
  }

  #decode({ eventSequence: _, ...session }: Entry): Session {
    return { ...session, data: this.#codec.decode(session.id, session.data) };
  }

  #unindex(userId: string, id: string): void {
    const ids = this.#idsByUser.get(userId);
    ids?.delete(id);
    if (ids?.size === 0) this.#idsByUser.delete(userId);
  }
}
