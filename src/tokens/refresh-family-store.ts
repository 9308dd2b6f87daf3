import { createClient, type RedisClientType } from 'redis';
import { connectOrFail, redisCommand } from '../stores/index.js';

/**
 * One chain of refresh tokens issued for one session. Only hashes of the
 * current and the previous secret are kept.
 */
export interface RefreshFamily {
  id: string;
  sessionId: string;
  userId: string;
  generation: number;
  currentHash: string;
  /** The secret the current one replaced, for the grace window of a racing second use. */
  previousHash: string | null;
  rotatedAt: number;
  expiresAt: number;
}

/** Where refresh families live. `advance` is a compare-and-set on the generation. */
export interface RefreshFamilyStore {
  create(family: RefreshFamily): Promise<void>;
  get(id: string, now: number): Promise<RefreshFamily | null>;
  /** Moves the family one generation on, only if it is still at `fromGeneration`. False if it moved or is gone. */
  advance(
    id: string,
    fromGeneration: number,
    next: Pick<RefreshFamily, 'currentHash' | 'previousHash' | 'rotatedAt'>,
  ): Promise<boolean>;
  delete(id: string): Promise<boolean>;
  close(): Promise<void>;
}

export class MemoryRefreshFamilyStore implements RefreshFamilyStore {
  readonly #families = new Map<string, RefreshFamily>();

  async create(family: RefreshFamily): Promise<void> {
    this.#families.set(family.id, { ...family });
  }

  async get(id: string, now: number): Promise<RefreshFamily | null> {
    const family = this.#families.get(id);
    if (!family) return null;
    if (family.expiresAt <= now) {
      this.#families.delete(id);
      return null;
    }
    return { ...family };
  }

  async advance(
    id: string,
    fromGeneration: number,
    next: Pick<RefreshFamily, 'currentHash' | 'previousHash' | 'rotatedAt'>,
  ): Promise<boolean> {
    const family = this.#families.get(id);
    if (!family || family.generation !== fromGeneration) return false;
    Object.assign(family, next, { generation: fromGeneration + 1 });
    return true;
  }

  async delete(id: string): Promise<boolean> {
    return this.#families.delete(id);
  }

  async close(): Promise<void> {
    this.#families.clear();
  }
}

// One key per family (a JSON string), so each step is one single-key command or script: cluster-safe.
const ADVANCE = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local family = cjson.decode(raw)
if tostring(family.generation) ~= ARGV[1] then return 0 end
family.generation = family.generation + 1
family.currentHash = ARGV[2]
family.previousHash = ARGV[3]
family.rotatedAt = tonumber(ARGV[4])
redis.call('SET', KEYS[1], cjson.encode(family), 'KEEPTTL')
return 1
`;

/** Shared by every instance; a family's key expires with the family. */
export class RedisRefreshFamilyStore implements RefreshFamilyStore {
  readonly #client: RedisClientType;
  readonly #prefix: string;

  private constructor(client: RedisClientType, prefix: string) {
    this.#client = client;
    this.#prefix = prefix;
  }

  static async connect(options: {
    url: string;
    prefix?: string;
  }): Promise<RedisRefreshFamilyStore> {
    const client = createClient({ url: options.url, disableOfflineQueue: true });
    await connectOrFail(client, 'refresh tokens');
    return new RedisRefreshFamilyStore(client as RedisClientType, options.prefix ?? 'cs:rt:');
  }

  async create(family: RefreshFamily): Promise<void> {
    const ttl = Math.max(1, family.expiresAt - family.rotatedAt);
    await redisCommand('refresh-token', () =>
      this.#client.set(this.#prefix + family.id, JSON.stringify(family), {
        expiration: { type: 'PX', value: ttl },
      }),
    );
  }

  async get(id: string, now: number): Promise<RefreshFamily | null> {
    const raw = await redisCommand('refresh-token', () => this.#client.get(this.#prefix + id));
    if (raw === null) return null;
    const family = JSON.parse(raw) as RefreshFamily;
    // The script stores "no previous secret" as an empty string.
    if (family.previousHash === '') family.previousHash = null;
    return family.expiresAt > now ? family : null;
  }

  async advance(
    id: string,
    fromGeneration: number,
    next: Pick<RefreshFamily, 'currentHash' | 'previousHash' | 'rotatedAt'>,
  ): Promise<boolean> {
    const result = await redisCommand('refresh-token', () =>
      this.#client.eval(ADVANCE, {
        keys: [this.#prefix + id],
        arguments: [
          String(fromGeneration),
          next.currentHash,
          next.previousHash ?? '',
          String(next.rotatedAt),
        ],
      }),
    );
    return result === 1;
  }

  async delete(id: string): Promise<boolean> {
    return (await redisCommand('refresh-token', () => this.#client.del(this.#prefix + id))) === 1;
  }

  async close(): Promise<void> {
    await this.#client.close().catch(() => undefined);
  }
}
