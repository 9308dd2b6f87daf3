import type { RedisArgument } from 'redis';
import { DecodeError, type Session, type SessionCodec } from '../../core/index.js';

/**
 * Fixed number of shards of the expiry index and the id registry. Each shard
 * is its own key, so in a cluster these indexes spread over several nodes
 * instead of weighing on one slot; sixteen keeps a sweep to one short command
 * per shard.
 */
export const SHARDS = 16;

/**
 * Key names. A session's key is derived from its id alone, so `get(id)` is one
 * command on one node; the user index is derived from the user id alone.
 */
export class Keys {
  readonly #prefix: string;

  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  /** HASH of one session's fields (see `recordFields`), with a native TTL. */
  session(id: string): string {
    return `${this.#prefix}s:${id}`;
  }

  /** ZSET of a user's session ids, each scored by its absolute expiry. */
  user(userId: string): string {
    return `${this.#prefix}u:${userId}`;
  }

  /** ZSET shard of the expiry index: ids scored by a lower bound of their session's expiry. */
  expiry(shard: number): string {
    return `${this.#prefix}exp:${shard}`;
  }

  /** ZSET shard of the id registry: ids all scored 0, so they page in id order for scans. */
  registry(shard: number): string {
    return `${this.#prefix}ids:${shard}`;
  }
}

/** FNV-1a: cheap and evenly spread, which is all a shard choice needs. */
export function shardOf(id: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % SHARDS;
}

/*
 * One-letter field names, since every session carries them:
 * u user id, v version, c created, a last active, i idle expiry,
 * x absolute expiry, ip, ua user agent, d the codec's bytes.
 * Times are decimal epoch ms. The Lua scripts read v, a, i, x and u by name.
 */

/** Every field of a session, as HSET arguments. Encodes the data first, so a refused encode writes nothing. */
export function recordFields(session: Session, codec: SessionCodec): RedisArgument[] {
  const fields: RedisArgument[] = [
    'u',
    session.userId,
    'c',
    String(session.createdAt),
    'x',
    String(session.absoluteExpiresAt),
    ...changedFields(session, codec),
  ];
  if (session.ip !== null) fields.push('ip', session.ip);
  if (session.userAgent !== null) fields.push('ua', session.userAgent);
  return fields;
}

/** The fields an update rewrites: data, version and activity. */
export function changedFields(session: Session, codec: SessionCodec): RedisArgument[] {
  const bytes = codec.encode(session.id, session.data);
  return [
    'v',
    String(session.version),
    'a',
    String(session.lastActiveAt),
    'i',
    String(session.idleExpiresAt),
    'd',
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
  ];
}

/** A session from an HGETALL reply (a flat field, value list), or null for a missing key. */
export function parseRecord(id: string, reply: unknown, codec: SessionCodec): Session | null {
  if (!Array.isArray(reply) || reply.length === 0) return null;
  const fields = new Map<string, Buffer>();
  for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), reply[i + 1]);
  const data = fields.get('d');
  const userId = fields.get('u');
  if (data === undefined || userId === undefined)
    throw new DecodeError('stored session record is incomplete');
  const text = (name: string) => fields.get(name)?.toString('utf8') ?? null;
  const time = (name: string) => Number(text(name));
  return {
    id,
    userId: userId.toString('utf8'),
    data: codec.decode(id, data),
    version: time('v'),
    createdAt: time('c'),
    lastActiveAt: time('a'),
    idleExpiresAt: time('i'),
    absoluteExpiresAt: time('x'),
    ip: text('ip'),
    userAgent: text('ua'),
  };
}
