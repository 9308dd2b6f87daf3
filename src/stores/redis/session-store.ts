import {
  applyInOrder,
  GroupCommit,
  type QueuedUpdate,
  readClock,
  type UpdateOutcome,
} from '../../core/backend-kit.js';
import {
  type Activity,
  type ArchiveSink,
  ConfigError,
  createCodec,
  createdEvent,
  DecodeError,
  type EventStamp,
  expiredEvent,
  expiresAt,
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
  type SessionStore,
  StoreUnavailableError,
  type UpdateOptions,
  updatedEvent,
  ValidationError,
  type WriteOptions,
} from '../../core/index.js';
import { type Connection, openConnection } from './connection.js';
import { entryOf, type IndexEntry, Indexes, type UserPosition } from './indexes.js';
import {
  ABSOLUTE,
  dayOf,
  encodeRecord,
  idBytes,
  idOf,
  Keys,
  parseRecord,
  SHARDS,
  USER_ID_LENGTH,
} from './layout.js';
import {
  type OutboxSettings,
  outboxSettings,
  RedisOutbox,
  type RedisOutboxOptions,
} from './outbox.js';
import {
  CREATE_RECORDED,
  DELETE_RECORDED,
  REAP_RECORDED,
  RENAME_RECORDED,
  type SessionKeys,
  WRITE_IF_VERSION_RECORDED,
} from './outbox-scripts.js';
import { DELETE, REAP, RETIRE, TOUCH, WRITE_IF_VERSION } from './scripts.js';
import { sweepExpired } from './sweep.js';

export interface RedisStoreOptions {
  /** A standalone server: `redis[s]://[[user]:password@]host[:port][/db]`. */
  url?: string;
  /** A Redis Cluster: some of its nodes' URLs; the rest is discovered. Credentials and TLS come from the first. */
  cluster?: { rootNodes: readonly string[] };
  /** Prepended to every key. Default `cs:`. */
  prefix?: string;
  codec?: SessionCodec;
  /** Longest wait for one command, in ms, before it fails with `StoreUnavailableError`. Default 2000. */
  commandTimeout?: number;
  /** How long `connect` keeps trying, in ms, before it fails with `StoreUnavailableError`. Default 10,000. */
  connectTimeout?: number;
  /**
   * How long an expired session stays in Redis, in ms, invisible to reads,
   * before its native TTL removes it: the window in which `sweepExpired` can
   * hand it to an archive. Default 10 minutes.
   */
  expiredRetention?: number;
  /**
   * Keep a transactional outbox (`true` for the defaults): every write
   * appends its events to a stream in the same Lua script (`outbox`;
   * docs/events.md). A standalone server only, for now.
   */
  outbox?: RedisOutboxOptions | true;
}

/** Compare-and-set misses an update absorbs before it gives up. */
const MAX_ATTEMPTS = 32;

/** How far a session's event counter outlives the last moment its key can (`#counterTtl`). */
const COUNTER_SLACK = 60 * 60_000;

/**
 * Sessions in Redis (6.2 or newer) or Redis Cluster: one STRING per session
 * (a fixed binary head, then the codec's bytes: see `layout.ts`) with a
 * native TTL, plus sorted-set indexes by expiry and by user, which scans page
 * through. Each step on a session is one command or one Lua script on its
 * one key; `indexes.ts` says why the indexes are kept beside it rather than
 * with it. With `outbox`, the scripts of `outbox-scripts.ts` instead, which
 * also record each change's events in a stream on the same server.
 */
export class RedisStore implements SessionStore {
  readonly outbox?: RedisOutbox;
  readonly #redis: Connection;
  readonly #keys: Keys;
  readonly #codec: SessionCodec;
  readonly #indexes: Indexes;
  readonly #retention: number;
  readonly #updates: GroupCommit;

  private constructor(
    redis: Connection,
    options: RedisStoreOptions,
    outbox: OutboxSettings | null,
  ) {
    this.#redis = redis;
    this.#keys = new Keys(options.prefix ?? 'cs:');
    this.#codec = options.codec ?? createCodec();
    this.#indexes = new Indexes(redis, this.#keys);
    this.#retention = options.expiredRetention ?? 10 * 60_000;
    this.#updates = new GroupCommit((id, batch) => this.#commit(id, batch));
    if (outbox) this.outbox = new RedisOutbox(redis, this.#keys.events(), outbox);
  }

  /** Connects and returns the store; fails with `StoreUnavailableError` if Redis cannot be reached. */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    if ((options.url === undefined) === (options.cluster === undefined))
      throw new ConfigError('RedisStore needs exactly one of url and cluster');
    if (options.outbox && options.cluster)
      throw new ConfigError(
        'the Redis outbox needs a standalone server for now (docs/events.md, "Redis Cluster")',
      );
    const outbox = options.outbox ? outboxSettings(options.outbox) : null;
    const redis = await openConnection({
      url: options.url,
      cluster: options.cluster,
      commandTimeout: options.commandTimeout ?? 2000,
      connectTimeout: options.connectTimeout ?? 10_000,
    });
    return new RedisStore(redis, options, outbox);
  }

  async create(session: Session, options?: WriteOptions): Promise<void> {
    const key = this.#keys.session(session.id);
    const value = encodeRecord(session, this.#codec);
    const now = session.lastActiveAt; // create takes no clock; a new session was last active now
    const ttl = this.#ttl(session, now);
    const created = await this.#writeIndexed(session, now, async () => {
      if (!this.outbox) return this.#createKey(key, value, ttl);
      const events = this.#events(options, session.createdAt, (stamp) => [
        createdEvent(session, stamp),
      ]);
      const reply = await this.#redis.run(CREATE_RECORDED, this.#sessionKeys(session.id), [
        value,
        ttl,
        this.#counterTtl(session, now),
        ...this.outbox.eventArgs(events),
      ]);
      return reply === 1;
    });
    if (!created) throw new SessionExistsError();
  }

  async get(id: string, now: number): Promise<Session | null> {
    return live(await this.#read(id), now);
  }

  /**
   * Several sessions by id, in order, null for each missing or expired one.
   * The commands go out together (node-redis writes all the commands issued
   * in one tick at once), so this is one round trip to each node involved.
   */
  async getMany(ids: readonly string[], now: number): Promise<(Session | null)[]> {
    return Promise.all(ids.map((id) => this.get(id, now)));
  }

  /**
   * Optimistic: read, apply the patches here (the codec may encrypt, so Redis
   * cannot), and write with a compare-and-set on the version. Updates of one
   * session from this process go in batches (`GroupCommit`), applied in order
   * and written with one compare-and-set, so a hot session costs a read and a
   * write per batch rather than per update, and there is one writer per
   * session per process: left to race, a steady stream of writers starved
   * some of every win until they gave up. A miss hands back the record as it
   * now is, and the batch is applied again to that at once; a second miss
   * means a crowd of processes, so the writer backs off and reads afresh.
   */
  update(id: string, ops: readonly PatchOperation[], options: UpdateOptions): Promise<Session> {
    return this.#updates.update(id, ops, options);
  }

  async #commit(id: string, batch: readonly QueuedUpdate[]): Promise<UpdateOutcome[]> {
    const key = this.#keys.session(id);
    const readAt = readClock(batch);
    let stored = await this.#read(id);
    for (let attempt = 1; ; attempt++) {
      const { outcomes, written } = applyInOrder(stored, batch, (session) =>
        encodeRecord(session, this.#codec),
      );
      if (!stored || !written) return outcomes;
      const { session } = written;
      const args = [
        String(readAt),
        String(stored.version),
        this.#ttl(session, session.lastActiveAt), // from the clock of the last update applied
        written.encoded,
      ];
      const reply = this.outbox
        ? await this.#redis.run(WRITE_IF_VERSION_RECORDED, this.#sessionKeys(id), [
            ...args,
            this.#counterTtl(session, session.lastActiveAt),
            ...this.outbox.eventArgs(this.#updatedEvents(batch, outcomes)),
          ])
        : await this.#redis.run(WRITE_IF_VERSION, key, args);
      if (reply === 1) return outcomes;
      if (reply === 0) {
        stored = null;
        continue;
      }
      if (attempt === MAX_ATTEMPTS)
        throw new StoreUnavailableError(
          `session update lost the race to concurrent writers ${MAX_ATTEMPTS} times; nothing was written`,
        );
      if (attempt === 1) {
        stored = parseRecord(id, reply, this.#codec);
      } else {
        await backoff(attempt);
        stored = await this.#read(id);
      }
    }
  }

  async touch(id: string, activity: Activity): Promise<boolean> {
    const reply = await this.#redis.run(TOUCH, this.#keys.session(id), [
      String(activity.now),
      String(activity.idleExpiresAt),
      String(this.#retention),
    ]);
    return reply === 1;
  }

  /*
   * The two ids hash to different slots, so a cluster cannot move a session in
   * one script. The order: copy to the new id (refused if taken), then delete
   * the old id only if it is still the version copied. Both ids are live for
   * that one round trip, during which only the old one has been handed out.
   * An update that lands on the old id meanwhile makes the delete refuse; it
   * is copied over and the delete tried again, so no update is lost. If the
   * old id is deleted meanwhile (revoked), the copy goes too. A crash between
   * the two steps leaves the old id working and an orphan copy whose token
   * was never returned, which expires; the session itself is never lost.
   *
   * With `aliasUntil`, the alias key is written after the copy and before the
   * old id is retired: while the old session key exists the old id reads it
   * directly, and from the moment it is gone the alias leads to the copy, so
   * there is no moment at which the old id leads nowhere.
   */
  async rename(
    fromId: string,
    toId: string,
    activity: Activity,
    options: RenameOptions = {},
  ): Promise<Session | null> {
    if (this.outbox) return this.#renameRecorded(this.outbox, fromId, toId, activity, options);
    const { now } = activity;
    const { aliasUntil } = options;
    let current = live(await this.#read(fromId), now);
    if (!current) return null;
    let next = renamedSession(current, toId, activity);
    const toKey = this.#keys.session(toId);
    const value = encodeRecord(next, this.#codec);
    const copied = await this.#writeIndexed(next, now, () =>
      this.#createKey(toKey, value, this.#ttl(next, now)),
    );
    if (!copied) throw new SessionExistsError();
    const aliasKey = this.#keys.alias(fromId);
    const aliased = aliasUntil !== undefined && aliasUntil > now;
    if (aliased) {
      await this.#redis.send(aliasKey, [
        'SET',
        aliasKey,
        aliasValue(toId, aliasUntil),
        'PX',
        aliasTtl(aliasUntil, now),
      ]);
    }
    const unalias = async () => {
      if (aliased) await this.#redis.send(aliasKey, ['DEL', aliasKey]);
    };
    for (let attempt = 1; ; attempt++) {
      const retired = await this.#redis.run(RETIRE, this.#keys.session(fromId), [
        String(current.version),
      ]);
      if (retired === 1) break;
      if (retired === 0 || attempt === MAX_ATTEMPTS) {
        await unalias();
        await this.delete(toId);
        if (retired === 0) return null;
        throw new StoreUnavailableError('session kept changing while it was being renamed');
      }
      const copiedVersion = next.version;
      current = parseRecord(fromId, retired, this.#codec) as Session;
      next = renamedSession(current, toId, activity);
      const recopied = await this.#redis.run(WRITE_IF_VERSION, toKey, [
        String(now),
        String(copiedVersion),
        this.#ttl(next, now),
        encodeRecord(next, this.#codec),
      ]);
      if (recopied !== 1) {
        // The copy was deleted meanwhile (all the user's sessions revoked): the old id goes too.
        await unalias();
        await this.delete(fromId);
        return null;
      }
    }
    await this.#indexes.remove([entryOf(current)]);
    return next;
  }

  /*
   * With an outbox the store is on one server, so a rename is one script on
   * both ids (RENAME_RECORDED), which also moves the event counter and
   * records the event: none of the copy-then-retire steps above, and no
   * moment at which both ids exist.
   */
  async #renameRecorded(
    outbox: RedisOutbox,
    fromId: string,
    toId: string,
    activity: Activity,
    options: RenameOptions,
  ): Promise<Session | null> {
    const { now } = activity;
    const { aliasUntil } = options;
    let current = live(await this.#read(fromId), now);
    if (!current) return null;
    const aliased = aliasUntil !== undefined && aliasUntil > now;
    const keys = [
      this.#keys.session(fromId),
      this.#keys.session(toId),
      this.#keys.sequence(fromId),
      this.#keys.sequence(toId),
      this.#keys.events(),
      this.#keys.alias(fromId),
    ];
    // Indexed before the write, as in #writeIndexed; every retry's session is filed the same.
    await this.#indexes.add(renamedSession(current, toId, activity), now);
    for (let attempt = 1; ; attempt++) {
      const next = renamedSession(current, toId, activity);
      const events = this.#events(options, now, (stamp) => [
        renamedEvent(next, fromId, aliasUntil, stamp),
      ]);
      const reply = await this.#redis.run(RENAME_RECORDED, keys, [
        String(now),
        String(current.version),
        this.#ttl(next, now),
        encodeRecord(next, this.#codec),
        aliased ? aliasValue(toId, aliasUntil) : '',
        aliased ? aliasTtl(aliasUntil, now) : '0',
        this.#counterTtl(next, now),
        ...outbox.eventArgs(events),
      ]);
      if (reply === 1) {
        await this.#indexes.addToUser(next, now);
        await this.#indexes.remove([entryOf(current)]);
        return next;
      }
      if (reply === -1) throw new SessionExistsError();
      if (reply === 0) return null;
      if (attempt === MAX_ATTEMPTS)
        throw new StoreUnavailableError('session kept changing while it was being renamed');
      current = parseRecord(fromId, reply, this.#codec) as Session;
    }
  }

  async resolveAlias(id: string, now: number): Promise<string | null> {
    const key = this.#keys.alias(id);
    const value = await this.#redis.send(key, ['GET', key]);
    if (value === null || value === undefined) return null;
    if (!Buffer.isBuffer(value) || value.length !== 40)
      throw new DecodeError('stored session alias is malformed');
    return now < value.readDoubleBE(32) ? idOf(value.subarray(0, 32)) : null;
  }

  /** Deletes the key first and unindexes after: a crash in between leaves only a dangling index entry. */
  async delete(id: string, options?: WriteOptions): Promise<boolean> {
    const head = await this.#deleteKey(id, null, options);
    if (!Buffer.isBuffer(head)) return false;
    await this.#indexes.remove([{ id, ...deletedOwner(head) }]);
    return true;
  }

  /**
   * Reads the ids in the user's part of the index and keeps the live sessions
   * that are the user's. Ids of sessions gone or expired are dropped from the
   * index; a live session of another user (whose user id hashes the same) is
   * only left out.
   */
  async listByUser(userId: string, now: number): Promise<Session[]> {
    const entries = await this.#indexes.userEntries(userId, now);
    const records = await Promise.all(entries.map(({ id }) => this.#read(id)));
    const sessions: Session[] = [];
    const dead: IndexEntry[] = [];
    for (const [i, { id, day }] of entries.entries()) {
      const session = live(records[i] ?? null, now);
      if (!session) dead.push({ id, userId, day });
      else if (session.userId === userId) sessions.push(session);
    }
    if (dead.length > 0) await this.#prune(dead, now);
    return sessions.sort((a, b) => b.createdAt - a.createdAt || a.id.localeCompare(b.id));
  }

  async deleteByUser(userId: string, exceptId?: string, options?: WriteOptions): Promise<string[]> {
    const entries = (await this.#indexes.userEntries(userId, null)).filter(
      ({ id }) => id !== exceptId,
    );
    const heads = await Promise.all(entries.map(({ id }) => this.#deleteKey(id, userId, options)));
    // Only the ids deleted here are unindexed: a missing key may be a create still in flight.
    const deleted = entries.filter((_, i) => heads[i] !== null);
    await this.#indexes.remove(deleted.map(({ id, day }) => ({ id, userId, day })));
    return deleted.map(({ id }) => id);
  }

  async sweepExpired(now: number, limit: number, archive?: ArchiveSink): Promise<Session[]> {
    const source = {
      indexes: this.#indexes,
      read: (id: string) => this.#read(id),
      reap: async (session: Session, at: number) => {
        const reaped = this.outbox
          ? await this.#redis.run(REAP_RECORDED, this.#sessionKeys(session.id), [
              String(at),
              ...this.outbox.eventArgs(
                this.#events(undefined, at, (stamp) => [expiredEvent(session, stamp)]),
              ),
            ])
          : await this.#redis.run(REAP, this.#keys.session(session.id), [String(at)]);
        if (reaped === 1) await this.#indexes.remove([entryOf(session)]);
      },
    };
    return sweepExpired(source, now, limit, archive);
  }

  /**
   * Pages through the user index in its order: shard by shard, day by day
   * (from the day of `now`: earlier days hold only expired sessions), member
   * by member. The cursor is `<shard>:<day>:<last member, hex>`. A page looks
   * at `limit` ids at most and leaves the dead ones out.
   */
  async scan(cursor: string | null, limit: number, now: number): Promise<ScanPage> {
    const from = parseCursor(cursor);
    const sessions: Session[] = [];
    const today = dayOf(now);
    const listed = new Map<string, Promise<number[]>>(); // shards share lists of days
    let room = limit;
    for (let shard = from.shard; shard < SHARDS; shard++) {
      const resumed = shard === from.shard && from.day !== null ? from : null;
      const key = this.#keys.userDays(shard);
      const days = listed.get(key) ?? this.#indexes.userDays(shard, today);
      listed.set(key, days);
      for (const day of await days) {
        if (resumed && day < resumed.day) continue;
        const after = day === resumed?.day ? resumed.member : null;
        const page = await this.#indexes.userPage(shard, day, after, room);
        const records = await Promise.all(page.map(({ id }) => this.#read(id)));
        for (const record of records) {
          const session = live(record, now);
          if (session) sessions.push(session);
        }
        room -= page.length;
        const last = page.at(-1);
        if (room === 0 && last) return { sessions, cursor: formatCursor(last.position) };
      }
    }
    return { sessions, cursor: null };
  }

  /**
   * Counts what the expiry index holds with a score after `now`: one ZCOUNT
   * per shard, all sent in one tick, so one pipeline to each node. The index
   * scores a lower bound of each expiry, so a session touched past its
   * indexed expiry is left out until the next sweep re-scores it, and an id
   * whose key vanished without being unindexed (a crash between the two)
   * counts until a sweep drops it. Exact right after `sweepExpired`.
   */
  async countLive(now: number): Promise<number> {
    const counts = await Promise.all(
      Array.from({ length: SHARDS }, (_, shard) => {
        const key = this.#keys.expiry(shard);
        return this.#redis.send(key, ['ZCOUNT', key, `(${now}`, '+inf']);
      }),
    );
    return counts.reduce<number>((sum, count) => sum + Number(count), 0);
  }

  /** Closes the connection; the data stays. */
  async close(): Promise<void> {
    await this.#redis.close();
  }

  async #read(id: string): Promise<Session | null> {
    const key = this.#keys.session(id);
    return parseRecord(id, await this.#redis.send(key, ['GET', key]), this.#codec);
  }

  /**
   * DELETE, optionally only if the session is `userId`'s; with an outbox,
   * recording its `session.revoked`, whose user the script fills in when
   * `userId` is null (only the stored session knows it).
   */
  async #deleteKey(id: string, userId: string | null, options?: WriteOptions): Promise<unknown> {
    if (!this.outbox)
      return this.#redis.run(DELETE, this.#keys.session(id), userId ? [userId] : []);
    // delete and deleteByUser take no clock: the event is stamped with the host's.
    const events = this.#events(options, options?.at ?? Date.now(), (stamp) => [
      revokedEvent({ id, userId: userId ?? '' }, stamp),
    ]);
    return this.#redis.run(DELETE_RECORDED, this.#sessionKeys(id), [
      userId ?? '',
      ...this.outbox.eventArgs(events),
    ]);
  }

  /** The keys of a script on one session with the outbox: `SessionKeys`. */
  #sessionKeys(id: string): SessionKeys {
    return [this.#keys.session(id), this.#keys.sequence(id), this.#keys.events()];
  }

  /**
   * A write's events, none when it is silent. Their sequence is a
   * placeholder: the script assigns it, from the session's counter.
   */
  #events(
    options: WriteOptions | undefined,
    time: number,
    build: (stamp: EventStamp) => OutboxEvent[],
  ): OutboxEvent[] {
    if (!this.outbox || options?.silent) return [];
    return build({
      instance: this.outbox.instance,
      time,
      sequence: 0,
      cause: options?.cause,
      codec: this.#codec,
    });
  }

  /** One `session.updated` per update of a batch that applied and is not silent, in order. */
  #updatedEvents(batch: readonly QueuedUpdate[], outcomes: readonly UpdateOutcome[]) {
    return batch.flatMap(({ ops, options }, i) => {
      const outcome = outcomes[i] as UpdateOutcome;
      if (!('session' in outcome)) return [];
      const after = outcome.session;
      return this.#events(options, options.now, (stamp) => [updatedEvent(after, ops, stamp)]);
    });
  }

  /** SET NX PX: the value and its TTL in one command, only if the id is free. */
  async #createKey(key: Buffer, value: Buffer, ttl: string): Promise<boolean> {
    return (await this.#redis.send(key, ['SET', key, value, 'NX', 'PX', ttl])) !== null;
  }

  /*
   * Index, write, index the user again. Indexing first means a crash after the
   * write cannot leave a live session that deleteByUser would miss. Indexing
   * again undoes a reader that, between the two, found the key missing and
   * dropped the id as dead (#prune re-checks after dropping, for the same race).
   */
  async #writeIndexed(session: Session, now: number, write: () => Promise<boolean>) {
    await this.#indexes.add(session, now);
    if (!(await write())) return false;
    await this.#indexes.addToUser(session, now);
    return true;
  }

  /** Drops dead ids from the user index, then puts back any that came alive meanwhile. */
  async #prune(entries: readonly IndexEntry[], now: number): Promise<void> {
    await this.#indexes.removeFromUser(entries);
    const records = await Promise.all(entries.map(({ id }) => this.#read(id)));
    await Promise.all(
      records.map((record) => {
        const session = live(record, now);
        return session ? this.#indexes.addToUser(session, now) : undefined;
      }),
    );
  }

  /*
   * Relative to the caller's `now`, not PEXPIREAT at the expiry: the injected
   * clock governs expiry (the hosts' clocks need not agree with Redis's, and
   * tests run a fake one far from real time). The key outlives the session by
   * the retention, for sweeps to archive it; reads stop at the expiry itself.
   */
  /**
   * The TTL of a session's event counter: past the last moment its key can
   * live (the absolute expiry and the expired retention, which no touch
   * extends beyond), by COUNTER_SLACK, since the instances that touch it may
   * have clocks behind the one that made it. The counter expiring first
   * would restart the session's sequence, which consumers read as old.
   */
  #counterTtl(session: Session, now: number): string {
    return String(Math.max(1, session.absoluteExpiresAt - now + this.#retention + COUNTER_SLACK));
  }

  #ttl(session: Session, now: number): string {
    return String(Math.max(1, expiresAt(session) - now + this.#retention));
  }
}

function parseCursor(cursor: string | null): UserPosition | { shard: 0; day: null; member: null } {
  if (cursor === null) return { shard: 0, day: null, member: null };
  const match = /^(\d+):(\d+):([0-9a-f]{80})$/.exec(cursor);
  if (!match) throw new ValidationError('scan cursor is malformed');
  return { shard: Number(match[1]), day: Number(match[2]), member: match[3] as string };
}

function formatCursor({ shard, day, member }: UserPosition): string {
  return `${shard}:${day}:${member}`;
}

/** What an alias key holds: the id renamed to (32 bytes), then when the alias ends (a double). */
function aliasValue(toId: string, aliasUntil: number): Buffer {
  const value = Buffer.alloc(40);
  idBytes(toId).copy(value, 0);
  value.writeDoubleBE(aliasUntil, 32);
  return value;
}

/**
 * The alias ends by itself: its TTL, relative to the caller's clock like
 * every TTL here, and the expiry it holds, which reads check against that clock.
 */
function aliasTtl(aliasUntil: number, now: number): string {
  return String(Math.max(1, Math.ceil(aliasUntil - now)));
}

/** The user and the index day of a session, from the head that DELETE hands back. */
function deletedOwner(head: Buffer): { userId: string; day: number } {
  const length = head.readUInt16BE(USER_ID_LENGTH);
  const userId = head.toString('utf8', USER_ID_LENGTH + 2, USER_ID_LENGTH + 2 + length);
  return { userId, day: dayOf(head.readDoubleBE(ABSOLUTE)) };
}

function live(session: Session | null, now: number): Session | null {
  return session && !isExpired(session, now) ? session : null;
}

/** Full jitter: a random wait of up to 2, 4, 8… ms, capped at 1 s, so that colliding writers spread out. */
function backoff(attempt: number): Promise<void> {
  return new Promise((resolve) =>
    setTimeout(resolve, Math.random() * Math.min(1000, 2 ** (attempt - 1))),
  );
}
