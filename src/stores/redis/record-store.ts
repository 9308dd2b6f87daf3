import { createHash } from 'node:crypto';
import type { RedisArgument } from 'redis';
import {
  assertIfVersion,
  assertLimit,
  assertListOptions,
  assertName,
  assertNow,
  assertPutOptions,
  encodeValue,
} from '../../core/backend-kit.js';
import {
  ConfigError,
  DecodeError,
  type PutOptions,
  type RecordStore,
  type RecordValue,
  type StoredRecord,
} from '../../core/index.js';
import { type Connection, openConnection } from './connection.js';

export interface RedisRecordStoreOptions {
  /** A standalone server: `redis[s]://[[user]:password@]host[:port][/db]`. */
  url?: string;
  /** A Redis Cluster: some of its nodes' URLs; the rest is discovered. Credentials and TLS come from the first. */
  cluster?: { rootNodes: readonly string[] };
  /** Prepended to every key. Default `cs:rec:`. */
  prefix?: string;
  /** Longest wait for one command, in ms, before it fails with `StoreUnavailableError`. Default 2000. */
  commandTimeout?: number;
  /** How long `connect` keeps trying, in ms, before it fails with `StoreUnavailableError`. Default 10,000. */
  connectTimeout?: number;
}

interface Script {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/*
 * Every script works on the keys of one collection: KEYS[1] and on are that
 * collection's record, index or expiry keys, and the record keys that LIST and
 * SWEEP derive from index members carry the same hash tag, so a script stays
 * on one slot of a cluster and runs atomically there. A record is a HASH:
 * v (version), x (expiresAt, absent for none), j (the value's JSON).
 */

/** KEYS: record, index, expiry. ARGV: key, now, ifVersion or '', expiresAt or '', ttl, json. */
const PUT = script(`
local f = redis.call('HMGET', KEYS[1], 'v', 'x')
local current = 0
if f[1] and (not f[2] or tonumber(f[2]) > tonumber(ARGV[2])) then current = tonumber(f[1]) end
if ARGV[3] ~= '' and tonumber(ARGV[3]) ~= current then return 0 end
local version = string.format('%d', current + 1)
redis.call('DEL', KEYS[1])
if ARGV[4] == '' then
  redis.call('HSET', KEYS[1], 'v', version, 'j', ARGV[6])
  redis.call('ZREM', KEYS[3], ARGV[1])
else
  redis.call('HSET', KEYS[1], 'v', version, 'x', ARGV[4], 'j', ARGV[6])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return current + 1
`);

/** KEYS: record, index, expiry. ARGV: key, ifVersion or ''. */
const DELETE = script(`
local v = redis.call('HGET', KEYS[1], 'v')
if v and ARGV[2] ~= '' and tonumber(ARGV[2]) ~= tonumber(v) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if not v then return 0 end
redis.call('DEL', KEYS[1])
return 1
`);

/**
 * KEYS: index, expiry. ARGV: record key prefix, now, after or '', limit.
 * Flat reply: key, version, expiresAt or '', json, for each live record.
 * Index entries whose record is gone (expired natively) are pruned on the way.
 */
const LIST = script(`
local now, limit = tonumber(ARGV[2]), tonumber(ARGV[4])
local from = '-'
if ARGV[3] ~= '' then from = '(' .. ARGV[3] end
local out, found = {}, 0
while found < limit do
  local want = limit - found
  local members = redis.call('ZRANGEBYLEX', KEYS[1], from, '+', 'LIMIT', 0, want)
  for _, m in ipairs(members) do
    local f = redis.call('HMGET', ARGV[1] .. m, 'v', 'x', 'j')
    if not f[1] then
      redis.call('ZREM', KEYS[1], m)
      redis.call('ZREM', KEYS[2], m)
    elseif not f[2] or tonumber(f[2]) > now then
      found = found + 1
      out[#out + 1] = m
      out[#out + 1] = f[1]
      out[#out + 1] = f[2] or ''
      out[#out + 1] = f[3]
    end
  end
  if #members < want then break end
  from = '(' .. members[#members]
end
return out
`);

/** KEYS: index, expiry. ARGV: record key prefix, now, limit. How many expired records it removed. */
const SWEEP = script(`
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
for _, m in ipairs(due) do
  redis.call('DEL', ARGV[1] .. m)
  redis.call('ZREM', KEYS[1], m)
  redis.call('ZREM', KEYS[2], m)
end
return #due
`);

/**
 * Key names. A collection's keys share the hash tag `{<collection>}` (with
 * `%`, `{` and `}` percent-encoded, so that no name can end the tag early or
 * make two collections' key names meet):
 *
 * - `<prefix>{<collection>}:<key>` HASH, one record, with a native TTL
 * - `<prefix>{<collection>}` ZSET index of the keys, all scored 0, so that
 *   ZRANGEBYLEX lists them in byte order
 * - `<prefix>{<collection>}#expiry` ZSET of the expiring keys by expiresAt
 * - `<prefix>collections` SET of the collections that have held an expiring
 *   record: where a sweep looks (on a slot of its own)
 */
class Keys {
  readonly #prefix: string;

  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  index(collection: string): string {
    return `${this.#prefix}{${collection.replace(/[%{}]/g, percentEncoded)}}`;
  }

  recordPrefix(collection: string): string {
    return `${this.index(collection)}:`;
  }

  record(collection: string, key: string): string {
    return this.recordPrefix(collection) + key;
  }

  expiry(collection: string): string {
    return `${this.index(collection)}#expiry`;
  }

  collections(): string {
    return `${this.#prefix}collections`;
  }
}

function percentEncoded(character: string): string {
  return `%${character.charCodeAt(0).toString(16).toUpperCase()}`;
}

/**
 * Records in Redis (6.2 or newer) or Redis Cluster. Each collection lives on
 * one slot, so that every step (a put with its compare-and-set and its index
 * entry, a delete, a page of a list) is one Lua script, atomic on one node.
 * Collections are small by design (API keys, users, refresh families, revoked
 * token ids that leave as their tokens expire), so one slot holds one easily.
 *
 * Records expire natively: a record's key lives `expiresAt - now` ms from the
 * write (relative, like RedisStore's, so that a skew between this host's clock
 * and Redis's does not move it), and reads compare `expiresAt` with the
 * caller's `now` as every backend does. `sweepExpired` still has work: it
 * removes records that are expired by the caller's clock and the index entries
 * of those Redis has already dropped, which `list` would otherwise only prune
 * when it passes them; run it periodically as for sessions.
 */
export class RedisRecordStore implements RecordStore {
  readonly #redis: Connection;
  readonly #keys: Keys;
  /** Collections this process has already added to the `collections` set. */
  readonly #registered = new Set<string>();

  private constructor(redis: Connection, prefix: string) {
    this.#redis = redis;
    this.#keys = new Keys(prefix);
  }

  /** Connects and returns the store; fails with `StoreUnavailableError` if Redis cannot be reached. */
  static async connect(options: RedisRecordStoreOptions): Promise<RedisRecordStore> {
    if ((options.url === undefined) === (options.cluster === undefined))
      throw new ConfigError('RedisRecordStore needs exactly one of url and cluster');
    const redis = await openConnection({
      url: options.url,
      cluster: options.cluster,
      commandTimeout: options.commandTimeout ?? 2000,
      connectTimeout: options.connectTimeout ?? 10_000,
    });
    return new RedisRecordStore(redis, options.prefix ?? 'cs:rec:');
  }

  async get(collection: string, key: string, now: number): Promise<StoredRecord | null> {
    assertName('collection', collection);
    assertName('key', key);
    assertNow(now);
    const recordKey = this.#keys.record(collection, key);
    const reply = await this.#redis.send(recordKey, ['HMGET', recordKey, 'v', 'x', 'j']);
    const [version, expiresAt, json] = reply as (Buffer | null)[];
    if (!version || !json) return null;
    const record = present(key, version, expiresAt ?? null, json);
    return record.expiresAt === null || record.expiresAt > now ? record : null;
  }

  async put(
    collection: string,
    key: string,
    value: RecordValue,
    options: PutOptions,
  ): Promise<number | null> {
    assertName('collection', collection);
    assertName('key', key);
    assertPutOptions(options);
    const json = encodeValue(value);
    const { now, ifVersion } = options;
    const expiresAt = options.expiresAt ?? null;
    if (expiresAt !== null) await this.#register(collection);
    const reply = await this.#run(
      PUT,
      [
        this.#keys.record(collection, key),
        this.#keys.index(collection),
        this.#keys.expiry(collection),
      ],
      [
        key,
        String(now),
        ifVersion === undefined ? '' : String(ifVersion),
        expiresAt === null ? '' : String(expiresAt),
        // At least 1 ms: PEXPIRE with 0 would delete the key before anyone could read its version.
        expiresAt === null ? '' : String(Math.max(1, expiresAt - now)),
        json,
      ],
    );
    return reply === 0 ? null : integer(reply);
  }

  async delete(
    collection: string,
    key: string,
    options: { ifVersion?: number } = {},
  ): Promise<boolean> {
    assertName('collection', collection);
    assertName('key', key);
    assertIfVersion(options.ifVersion);
    const reply = await this.#run(
      DELETE,
      [
        this.#keys.record(collection, key),
        this.#keys.index(collection),
        this.#keys.expiry(collection),
      ],
      [key, options.ifVersion === undefined ? '' : String(options.ifVersion)],
    );
    return reply === 1;
  }

  async list(
    collection: string,
    options: { now: number; after?: string; limit: number },
  ): Promise<StoredRecord[]> {
    assertName('collection', collection);
    assertListOptions(options);
    const reply = (await this.#run(
      LIST,
      [this.#keys.index(collection), this.#keys.expiry(collection)],
      [
        this.#keys.recordPrefix(collection),
        String(options.now),
        options.after ?? '',
        String(options.limit),
      ],
    )) as Buffer[];
    const records: StoredRecord[] = [];
    for (let i = 0; i < reply.length; i += 4) {
      const [key, version, expiresAt, json] = reply.slice(i, i + 4) as [
        Buffer,
        Buffer,
        Buffer,
        Buffer,
      ];
      records.push(
        present(key.toString('utf8'), version, expiresAt.length ? expiresAt : null, json),
      );
    }
    return records;
  }

  async sweepExpired(now: number, limit: number): Promise<number> {
    assertNow(now);
    assertLimit(limit);
    const registry = this.#keys.collections();
    const collections = (await this.#redis.send(registry, ['SMEMBERS', registry])) as Buffer[];
    let removed = 0;
    for (const name of collections) {
      if (removed === limit) break;
      const collection = name.toString('utf8');
      removed += integer(
        await this.#run(
          SWEEP,
          [this.#keys.index(collection), this.#keys.expiry(collection)],
          [this.#keys.recordPrefix(collection), String(now), String(limit - removed)],
        ),
      );
    }
    return removed;
  }

  async close(): Promise<void> {
    await this.#redis.close();
  }

  /** Before the first expiring record of a collection: a sweep finds collections here. */
  async #register(collection: string): Promise<void> {
    if (this.#registered.has(collection)) return;
    const registry = this.#keys.collections();
    await this.#redis.send(registry, ['SADD', registry, collection]);
    this.#registered.add(collection);
  }

  /** Runs a script by its SHA-1, sending the source once on a NOSCRIPT miss. Routed by the first key. */
  async #run(script: Script, keys: [string, ...string[]], args: RedisArgument[]) {
    const count = String(keys.length);
    try {
      return await this.#redis.send(keys[0], ['EVALSHA', script.sha, count, ...keys, ...args]);
    } catch (error) {
      if (!this.#redis.isScriptMissing(error)) throw error;
    }
    return this.#redis.send(keys[0], ['EVAL', script.source, count, ...keys, ...args]);
  }
}

function present(
  key: string,
  version: Buffer,
  expiresAt: Buffer | null,
  json: Buffer,
): StoredRecord {
  return {
    key,
    value: JSON.parse(json.toString('utf8')) as RecordValue,
    version: integer(version.toString()),
    expiresAt: expiresAt === null ? null : integer(expiresAt.toString()),
  };
}

function integer(value: unknown): number {
  const number = Number(value);
  if (!Number.isSafeInteger(number))
    throw new DecodeError(`stored record holds ${String(value)} where an integer belongs`);
  return number;
}
