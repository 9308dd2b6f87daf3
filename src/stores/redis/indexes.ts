import { expiresAt, type Session } from '../../core/index.js';
import type { Connection } from './connection.js';
import { type Keys, shardOf } from './layout.js';
import { INDEX_USER, USER_MEMBERS } from './scripts.js';

/**
 * The indexes, kept beside the session keys and, in a cluster, generally on
 * other nodes. Hash tags cannot put a session and its user index in one slot:
 * `get(id)` must find a session from its id alone in one command, so the
 * session's slot can depend only on the id; the user index's slot only on the
 * user; ids are random hashes chosen outside the store, so the two agree for
 * every session only if the slot is a constant, which puts everything on one
 * node and gives up the cluster. So no step changes a session and an index
 * atomically, and the indexes are hints, never the truth: every reader checks
 * the session key, and writers index before they write a session and unindex
 * after they delete one, so an index may hold a dead id for a while but never
 * misses a live one.
 *
 * - The user index (`u:<user>`) scores each id by its absolute expiry, which
 *   never moves: entries past it are certainly dead and are dropped by score;
 *   an id whose key is gone is dropped when a reader finds it so.
 * - The expiry index (`exp:<shard>`) scores each id by a lower bound of its
 *   expiry (touches extend sessions without updating it), so a sweep may find
 *   a candidate early, and re-scores it, but never finds one late.
 * - The id registry (`ids:<shard>`) holds every id at score 0, so a scan pages
 *   through it in id order: stable however the sessions change meanwhile.
 */
export class Indexes {
  readonly #redis: Connection;
  readonly #keys: Keys;

  constructor(redis: Connection, keys: Keys) {
    this.#redis = redis;
    this.#keys = keys;
  }

  async add(session: Session, now: number): Promise<void> {
    const shard = shardOf(session.id);
    const expiryKey = this.#keys.expiry(shard);
    const registryKey = this.#keys.registry(shard);
    await Promise.all([
      this.addToUser(session, now),
      this.#redis.send(expiryKey, [
        'ZADD',
        expiryKey,
        'LT',
        String(expiresAt(session)),
        session.id,
      ]),
      this.#redis.send(registryKey, ['ZADD', registryKey, '0', session.id]),
    ]);
  }

  async addToUser(session: Session, now: number): Promise<void> {
    const key = this.#keys.user(session.userId);
    await this.#redis.run(INDEX_USER, key, [
      String(now),
      String(session.absoluteExpiresAt),
      session.id,
    ]);
  }

  /** Removes ids of one user from every index. Call only once their keys are gone. */
  async remove(userId: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await Promise.all([
      this.removeFromUser(userId, ids),
      ...[...groupByShard(ids)].map(([shard, members]) => this.#removeFromShard(shard, members)),
    ]);
  }

  async removeFromUser(userId: string, ids: readonly string[]): Promise<void> {
    const key = this.#keys.user(userId);
    await this.#redis.send(key, ['ZREM', key, ...ids]);
  }

  /** Removes an id from the expiry index and the registry, when its key is known to be gone. */
  async forget(id: string): Promise<void> {
    await this.#removeFromShard(shardOf(id), [id]);
  }

  /** The user's ids not yet past their absolute expiry; drops the others. */
  async userMembers(userId: string, now: number): Promise<string[]> {
    const key = this.#keys.user(userId);
    return strings(await this.#redis.run(USER_MEMBERS, key, [String(now)]));
  }

  /** Every id in the user's index, dead or alive. */
  async allUserMembers(userId: string): Promise<string[]> {
    const key = this.#keys.user(userId);
    return strings(await this.#redis.send(key, ['ZRANGE', key, '0', '-1']));
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
    return strings(await this.#redis.send(key, [...args, String(count)]));
  }

  /** Corrects a candidate found early; XX, so an id removed meanwhile is not brought back. */
  async rescoreExpiry(session: Session): Promise<void> {
    const key = this.#keys.expiry(shardOf(session.id));
    await this.#redis.send(key, ['ZADD', key, 'XX', String(expiresAt(session)), session.id]);
  }

  /** Up to `count` ids of one registry shard after `afterId` (from the start if null), in id order. */
  async registryPage(shard: number, afterId: string | null, count: number): Promise<string[]> {
    const key = this.#keys.registry(shard);
    const from = afterId === null ? '-' : `(${afterId}`;
    const args = ['ZRANGE', key, from, '+', 'BYLEX', 'LIMIT', '0', String(count)];
    return strings(await this.#redis.send(key, args));
  }

  async #removeFromShard(shard: number, ids: readonly string[]): Promise<void> {
    const expiryKey = this.#keys.expiry(shard);
    const registryKey = this.#keys.registry(shard);
    await Promise.all([
      this.#redis.send(expiryKey, ['ZREM', expiryKey, ...ids]),
      this.#redis.send(registryKey, ['ZREM', registryKey, ...ids]),
    ]);
  }
}

function groupByShard(ids: readonly string[]): Map<number, string[]> {
  const shards = new Map<number, string[]>();
  for (const id of ids) {
    const shard = shardOf(id);
    shards.set(shard, [...(shards.get(shard) ?? []), id]);
  }
  return shards;
}

function strings(reply: unknown): string[] {
  return (reply as Buffer[]).map((member) => member.toString('utf8'));
}
