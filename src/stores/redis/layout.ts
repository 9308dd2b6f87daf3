import { createHash } from 'node:crypto';
import { DecodeError, type Session, type SessionCodec, ValidationError } from '../../core/index.js';

/**
 * Fixed number of shards of the expiry index and of the user index. Each
 * shard is its own key (the user index's, one per day), so in a cluster the
 * indexes spread over the nodes instead of weighing on one slot. And a sorted
 * set stays a listpack (a few dozen bytes an entry, against some 150 as a
 * skiplist) up to 128 entries, so 256 shards keep both indexes compact up to
 * some 30,000 sessions (a day, for the user index). A shard is no key at all
 * until it holds something; a sweep asks all of them at once.
 */
export const SHARDS = 256;

/** The user index lists its days in this many keys, one for the shards equal modulo it. */
export const DAY_LISTS = 16;

/** The user index files a session under the UTC day of its absolute expiry. */
export const DAY = 86_400_000;

const SESSION_ID = /^[0-9a-f]{64}$/;

/**
 * The 32 bytes a session id (64 lowercase hex characters, a SHA-256) stands
 * for: what the session key ends with and what every index stores. Any other
 * string is refused, so that two spellings never name one key.
 */
export function idBytes(id: string): Buffer {
  return withIdBytes(Buffer.allocUnsafe(32), 0, id);
}

/** `target` with the id's 32 bytes written at `offset`: a key in one allocation on every read. */
function withIdBytes(target: Buffer, offset: number, id: string): Buffer {
  if (!SESSION_ID.test(id))
    throw new ValidationError('a session id is 64 lowercase hexadecimal characters');
  target.write(id, offset, 'hex');
  return target;
}

/** A session id from its 32 bytes. */
export function idOf(bytes: Buffer): string {
  if (bytes.length !== 32) throw new DecodeError('a session index holds a malformed id');
  return bytes.toString('hex');
}

/**
 * Key names. A session's key is derived from its id alone, so `get(id)` is one
 * command on one node; a user's part of the user index is found from the
 * user id alone.
 */
export class Keys {
  readonly #prefix: string;
  readonly #session: Buffer;
  readonly #alias: Buffer;
  readonly #sequence: Buffer;

  constructor(prefix: string) {
    this.#prefix = prefix;
    this.#session = Buffer.from(`${prefix}s:`, 'utf8');
    this.#alias = Buffer.from(`${prefix}a:`, 'utf8');
    this.#sequence = Buffer.from(`${prefix}seq:`, 'utf8');
  }

  /** STRING holding one session (see `encodeRecord`), with a native TTL: the prefix, `s:` and the id's 32 bytes. */
  session(id: string): Buffer {
    return this.#keyOf(this.#session, id);
  }

  /**
   * STRING naming the id a rotated-away id moved to (its 32 bytes), with a TTL
   * to the end of the grace window: the prefix, `a:` and the old id's 32 bytes.
   */
  alias(id: string): Buffer {
    return this.#keyOf(this.#alias, id);
  }

  /**
   * With an outbox only: STRING counting a session's events (its
   * `OutboxEvent.sequence` so far), with the session's own TTL: the prefix,
   * `seq:` and the id's 32 bytes. See `outbox-scripts.ts`.
   */
  sequence(id: string): Buffer {
    return this.#keyOf(this.#sequence, id);
  }

  /** With an outbox only: the STREAM of its events (see `outbox.ts`). */
  events(): string {
    return `${this.#prefix}ev`;
  }

  /** ZSET shard of the expiry index: ids (32 bytes) scored by a lower bound of their session's expiry, in ms. */
  expiry(shard: number): string {
    return `${this.#prefix}exp:${shard}`;
  }

  /**
   * ZSET of the user index: one shard's sessions whose absolute expiry falls
   * on `day`, as `userMember`s all scored 0, so they sort by user, then id.
   * Its TTL runs to the end of the day, when all of them are certainly dead.
   */
  users(shard: number, day: number): string {
    return `${this.#prefix}u:${shard}:${day}`;
  }

  /** ZSET of the days that may have a `users(shard, day)` key, each scored by itself: one list for the shards equal modulo DAY_LISTS. */
  userDays(shard: number): string {
    return `${this.#prefix}ud:${shard % DAY_LISTS}`;
  }

  #keyOf(start: Buffer, id: string): Buffer {
    const key = Buffer.allocUnsafe(start.length + 32);
    start.copy(key);
    return withIdBytes(key, start.length, id);
  }
}

/** FNV-1a: cheap and evenly spread, which is all a shard choice needs. */
export function shardOf(id: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % SHARDS;
}

/** Where a user's sessions are indexed: a shard, and the 8 bytes that start their members. */
export interface UserSlot {
  shard: number;
  hash: Buffer;
}

/**
 * The first 8 bytes of SHA-256(userId): fixed-size, so a member stays short
 * enough for a listpack whatever the user id (a UUID, an e-mail address), and
 * the shard. Two users may share a hash; readers check the session's user.
 */
export function userSlot(userId: string): UserSlot {
  const hash = createHash('sha256').update(userId, 'utf8').digest().subarray(0, 8);
  return { shard: hash.readUInt16BE(0) % SHARDS, hash };
}

/** A user index member: the user's hash (8 bytes), then the session id (32 bytes). */
export function userMember(userId: string, id: string): Buffer {
  return Buffer.concat([userSlot(userId).hash, idBytes(id)]);
}

export function dayOf(ms: number): number {
  return Math.floor(ms / DAY);
}

/*
 * One session is one STRING (layout 2), every number big-endian:
 *
 *   offset  size  field
 *        0     1  layout, 2: a later layout changes this byte
 *        1     8  version              (IEEE-754 double, like every time here:
 *        9     8  createdAt             epoch ms and versions are integers far
 *       17     8  lastActiveAt          below 2^53, so a double holds them
 *       25     8  idleExpiresAt         exactly, in Node and in Redis's Lua,
 *       33     8  absoluteExpiresAt     which reads them with struct.unpack)
 *       41     8  tokenIssuedAt
 *       49     2  n, byte length of userId
 *       51     n  userId, UTF-8
 *        …     2  byte length of ip, 0xFFFF for null
 *        …        ip, UTF-8
 *        …     2  byte length of userAgent, 0xFFFF for null
 *        …        userAgent, UTF-8
 *        …  rest  the codec's bytes for the data
 *
 * Layout 1 is layout 2 without tokenIssuedAt (the user id's length at 41):
 * records written before it are still read, with tokenIssuedAt = createdAt,
 * and the next write of the whole value (an update) stores them as layout 2.
 *
 * The scripts read the fixed 41-byte head with GETRANGE and never the data:
 * touch rewrites lastActiveAt and idleExpiresAt (adjacent, 16 bytes at 17) in
 * place with SETRANGE; an update compares the version and writes the whole
 * value; delete reads the user id after tokenIssuedAt (at 43 in layout 1). One value instead of a HASH of
 * fields saves the field names and a hash table: the codec's bytes are longer
 * than `hash-max-listpack-value`, so a HASH would not stay a listpack.
 */
export const LAYOUT = 2;
/** The earlier layout, still read: no tokenIssuedAt. */
export const LAYOUT_1 = 1;
/** Length of the fixed head the scripts read: the layout byte and the five doubles of both layouts. */
export const HEAD = 41;
/** Offset of tokenIssuedAt (layout 2). */
export const TOKEN_ISSUED = 41;
/** Where the user id's length is in layout 2: after tokenIssuedAt. */
export const USER_ID_LENGTH_2 = 49;
/** Offset of lastActiveAt, followed by idleExpiresAt. */
export const ACTIVITY = 17;
/** Offset of absoluteExpiresAt. */
export const ABSOLUTE = 33;
/**
 * Offset of the user id's length, followed by the user id, in layout 1 and in
 * the head the DELETE script hands back (which it puts in that shape).
 */
export const USER_ID_LENGTH = 41;
const NULL_LENGTH = 0xffff;

/** A session as the value of its key. Encodes the data first, so a refused encode writes nothing. */
export function encodeRecord(session: Session, codec: SessionCodec): Buffer {
  const data = codec.encode(session.id, session.data);
  const user = text(session.userId, 'userId');
  const ip = session.ip === null ? null : text(session.ip, 'ip');
  const userAgent = session.userAgent === null ? null : text(session.userAgent, 'userAgent');
  const size = USER_ID_LENGTH_2 + 6 + user.length + (ip?.length ?? 0) + (userAgent?.length ?? 0);
  const value = Buffer.allocUnsafe(size + data.byteLength);
  value.writeUInt8(LAYOUT, 0);
  value.writeDoubleBE(session.version, 1);
  value.writeDoubleBE(session.createdAt, 9);
  value.writeDoubleBE(session.lastActiveAt, ACTIVITY);
  value.writeDoubleBE(session.idleExpiresAt, 25);
  value.writeDoubleBE(session.absoluteExpiresAt, ABSOLUTE);
  value.writeDoubleBE(session.tokenIssuedAt, TOKEN_ISSUED);
  let offset = USER_ID_LENGTH_2;
  for (const field of [user, ip, userAgent]) {
    value.writeUInt16BE(field?.length ?? NULL_LENGTH, offset);
    offset += 2;
    if (field) offset += field.copy(value, offset);
  }
  value.set(data, offset);
  return value;
}

function text(value: string, name: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length >= NULL_LENGTH)
    throw new ValidationError(`${name} is too long to store (${bytes.length} bytes)`);
  return bytes;
}

/** A session from the value of its key (a Buffer), or null for a missing key. */
export function parseRecord(id: string, value: unknown, codec: SessionCodec): Session | null {
  if (value === null || value === undefined) return null;
  if (!Buffer.isBuffer(value)) throw new DecodeError('stored session record is not a string');
  const layout = value[0];
  if (value.length < HEAD || (layout !== LAYOUT && layout !== LAYOUT_1))
    throw new DecodeError('stored session record has an unknown layout');
  if (layout === LAYOUT && value.length < USER_ID_LENGTH_2)
    throw new DecodeError('stored session record is truncated');
  let offset = layout === LAYOUT ? USER_ID_LENGTH_2 : USER_ID_LENGTH;
  const field = (): string | null => {
    if (offset + 2 > value.length) throw new DecodeError('stored session record is truncated');
    const length = value.readUInt16BE(offset);
    offset += 2;
    if (length === NULL_LENGTH) return null;
    if (offset + length > value.length) throw new DecodeError('stored session record is truncated');
    offset += length;
    return value.toString('utf8', offset - length, offset);
  };
  const userId = field();
  const ip = field();
  const userAgent = field();
  if (userId === null) throw new DecodeError('stored session record has no user id');
  return {
    id,
    userId,
    data: codec.decode(id, value.subarray(offset)),
    version: value.readDoubleBE(1),
    createdAt: value.readDoubleBE(9),
    lastActiveAt: value.readDoubleBE(ACTIVITY),
    idleExpiresAt: value.readDoubleBE(25),
    absoluteExpiresAt: value.readDoubleBE(ABSOLUTE),
    tokenIssuedAt: value.readDoubleBE(layout === LAYOUT ? TOKEN_ISSUED : 9),
    ip,
    userAgent,
  };
}
