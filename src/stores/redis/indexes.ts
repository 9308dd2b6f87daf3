import { expiresAt, type Session } from '../../core/index.js';
import type { Connection } from './connection.js';
import { DAY, dayOf, idBytes, idOf, type Keys, shardOf, userMember, userSlot } from './layout.js';
import { INDEX_DAY, INDEX_USER } from './scripts.js';

/** What places a session in the indexes: its id, its user and the day of its absolute expiry. */
export interface IndexEntry {
  id: string;
  userId: string;
  day: number;
}

export function entryOf(session: Pick<Session, 'id' | 'userId' | 'absoluteExpiresAt'>): IndexEntry {
  return { id: session.id, userId: session.userId, day: dayOf(session.absoluteExpiresAt) };
}

/** A session id found in the user index, and the day it is filed under. */
export interface UserEntry {
  id: string;
  day: number;
}

/** A position in the user index, for scans: a shard, a day and a member (as hex). */
export interface UserPosition {
  shard: number;
  day: number;
  member: string;
}

/**
 * The indexes, kept beside the session keys and, in a cluster, generally on
 * other nodes. Hash tags cannot put a session and its index entries in one
 * slot: `get(id)` must find a session from its id alone in one command, so
 * the session's slot can depend only on the id; a user's entries must be
 * found from the user alone; ids are random hashes chosen outside the store,
 * so the two agree for every session only if the slot is a constant, which
 * puts everything on one node and gives up the cluster. So no step changes a
 * session and an index atomically, and the indexes are hints, never the
 * truth: every reader checks the session key, and writers index before they
 * write a session and unindex after they delete one, so an index may hold a
 * dead id for a while but never misses a live one.
 *
 * Two indexes, both of sorted sets small enough to stay listpacks (a few
 * dozen bytes an entry), ids stored as their 32 bytes:
 *
 * - The expiry index (`exp:<shard>`, sharded by id) scores each id by a lower
 *   bound of its expiry (touches extend sessions without updating it), so a
 *   sweep may find a candidate early, and re-scores it, but never finds one
 *   late.
 * - The user index (`u:<shard>:<day>`, sharded by user) holds each session as
 *   the user's 8-byte hash followed by its id, all at score 0, in the key of
 *   the UTC day of its absolute expiry. A user's sessions are one lexical
 *   range of each day's key, so no user needs a key of their own (a key costs
 *   some 150 bytes before it holds anything, more than the session's entry);
 *   `ud:<shard mod 16>` lists the days. Each day's key expires at the end of
 *   its day, when all its sessions have certainly expired, so an entry never
 *   outlives its session by more than a day, sweeps or not; deletes, sweeps
 *   and reads that find a session dead drop its entry at once.
 *
 * A scan pages through the user index in its order (shard, day, member). No
 * change to a session moves its entry there (the absolute expiry never
 * moves), so a scan meets every session that lives throughout it exactly
 * once, which the expiry index could not give: its scores move (a sweep
 * re-scores a touched session forward), and a scan paging by score would meet
 * a session again after a sweep moved it past the scan's cursor.
 */
export class Indexes {
  readonly #redis: Connection;
  readonly #keys: Keys;

  constructor(redis: Connection, keys: Keys) {
    this.#redis = redis;
    this.#keys = keys;
  }

  /** Indexes a session about to be written: expiry, the user's day, and the user index. */
  async add(session: Session, now: number): Promise<void> {
    const expiryKey = this.#keys.expiry(shardOf(session.id));
    const score = String(expiresAt(session));
    const day = dayOf(session.absoluteExpiresAt);
    const daysKey = this.#keys.userDays(userSlot(session.userId).shard);
    await Promise.all([
      this.#redis.send(expiryKey, ['ZADD', expiryKey, 'LT', score, idBytes(session.id)]),
      this.#redis.run(INDEX_DAY, daysKey, [String(now), String(day)]),
      this.addToUser(session, now),
    ]);
  }

  async addToUser(session: Session, now: number): Promise<void> {
    const day = dayOf(session.absoluteExpiresAt);
    const key = this.#keys.users(userSlot(session.userId).shard, day);
    await this.#redis.run(INDEX_USER, key, [
      userMember(session.userId, session.id),
      String(Math.max(1, (day + 1) * DAY - now)),
    ]);
  }

  /** Removes sessions from every index. Call only once their keys are gone. */
  async remove(entries: readonly IndexEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const byShard = group(entries, (entry) => shardOf(entry.id));
    await Promise.all([
      this.removeFromUser(entries),
      ...[...byShard].map(([shard, members]) =>
        this.#forget(
          shard,
          members.map((entry) => entry.id),
        ),
      ),
    ]);
  }

  /** Removes sessions from the user index only. */
  async removeFromUser(entries: readonly IndexEntry[]): Promise<void> {
    const byKey = group(entries, (entry) =>
      this.#keys.users(userSlot(entry.userId).shard, entry.day),
    );
    await Promise.all(
      [...byKey].map(([key, members]) =>
        this.#redis.send(key, [
          'ZREM',
          key,
          ...members.map((entry) => userMember(entry.userId, entry.id)),
        ]),
      ),
    );
  }

  /** Removes an id from the expiry index, when its key is known to be gone. */
  async forget(id: string): Promise<void> {
    await this.#forget(shardOf(id), [id]);
  }

  /**
   * The ids in a user's part of the index, from the day of `now` on, or from
   * every day still listed if `now` is null. Some may be another user's whose
   * hash is the same; readers check.
   */
  async userEntries(userId: string, now: number | null): Promise<UserEntry[]> {
    const { shard, hash } = userSlot(userId);
    const days = await this.userDays(shard, now === null ? null : dayOf(now));
    const from = Buffer.concat([Buffer.from('['), hash]);
    const to = Buffer.concat([Buffer.from('['), hash, Buffer.alloc(32, 0xff)]);
    const found = await Promise.all(
      days.map(async (day) => {
        const key = this.#keys.users(shard, day);
        const members = (await this.#redis.send(key, [
          'ZRANGE',
          key,
          from,
          to,
          'BYLEX',
        ])) as Buffer[];
        return members.map((member) => ({ id: idOf(member.subarray(8)), day }));
      }),
    );
    return found.flat();
  }

  /** The days listed for a shard, ascending, from `fromDay` on (all if null). */
  async userDays(shard: number, fromDay: number | null): Promise<number[]> {
    const key = this.#keys.userDays(shard);
    const min = fromDay === null ? '-inf' : String(fromDay);
    const days = (await this.#redis.send(key, ['ZRANGE', key, min, '+inf', 'BYSCORE'])) as Buffer[];
    return days.map((day) => Number(day.toString()));
  }

  /**
   * Up to `count` ids of one day of one shard of the user index after
   * `after` (a member, hex; from the start if null), in member order, each
   * with its member.
   */
  async userPage(
    shard: number,
    day: number,
    after: string | null,
    count: number,
  ): Promise<{ id: string; position: UserPosition }[]> {
    const key = this.#keys.users(shard, day);
    const from =
      after === null ? '-' : Buffer.concat([Buffer.from('('), Buffer.from(after, 'hex')]);
    const args = ['ZRANGE', key, from, '+', 'BYLEX', 'LIMIT', '0', String(count)];
    const members = (await this.#redis.send(key, args)) as Buffer[];
    return members.map((member) => ({
      id: idOf(member.subarray(8)),
      position: { shard, day, member: member.toString('hex') },
    }));
  }

  /** Up to `count` ids of one expiry shard scored at or before `now`, skipping the first `offset`. */
  async expiryCandidates(
    shard: number,
    now: number,
    offset: number,
    count: number,
  ): Promise<string[]> {
    const key = this.#keys.expiry(shard);
    const args = ['ZRANGE', key, '-inf', String(now), 'BYSCORE', 'LIMIT', String(offset)];
    const members = (await this.#redis.send(key, [...args, String(count)])) as Buffer[];
    return members.map(idOf);
  }

  /** Corrects a candidate found early; XX, so an id removed meanwhile is not brought back. */
  async rescoreExpiry(session: Session): Promise<void> {
    const key = this.#keys.expiry(shardOf(session.id));
    const score = String(expiresAt(session));
    await this.#redis.send(key, ['ZADD', key, 'XX', score, idBytes(session.id)]);
  }

  async #forget(shard: number, ids: readonly string[]): Promise<void> {
    const key = this.#keys.expiry(shard);
    await this.#redis.send(key, ['ZREM', key, ...ids.map((id) => idBytes(id))]);
  }
}

function group<T, K>(items: readonly T[], keyOf: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    groups.set(key, [...(groups.get(key) ?? []), item]);
  }
  return groups;
}
