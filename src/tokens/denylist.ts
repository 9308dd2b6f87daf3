import { createClient, type RedisClientType } from 'redis';
import { connectOrFail, redisCommand } from '../stores/index.js';

/** Access tokens revoked before their expiry, remembered by `jti` until they would have expired anyway. */
export interface TokenDenylist {
  add(jti: string, expiresAt: number, now: number): Promise<void>;
  has(jti: string, now: number): Promise<boolean>;
  close(): Promise<void>;
}

/** For one process. Entries leave as their tokens expire, so the size follows the revocation rate. */
export class MemoryTokenDenylist implements TokenDenylist {
  readonly #entries = new Map<string, number>();

  async add(jti: string, expiresAt: number, now: number): Promise<void> {
    for (const [id, at] of this.#entries) if (at <= now) this.#entries.delete(id);
    this.#entries.set(jti, expiresAt);
  }

  async has(jti: string, now: number): Promise<boolean> {
    const expiresAt = this.#entries.get(jti);
    return expiresAt !== undefined && expiresAt > now;
  }

  async close(): Promise<void> {
    this.#entries.clear();
  }
}

/** Shared by every instance: one key per revoked `jti`, expiring with the token. */
export class RedisTokenDenylist implements TokenDenylist {
  readonly #client: RedisClientType;
  readonly #prefix: string;

  private constructor(client: RedisClientType, prefix: string) {
    this.#client = client;
    this.#prefix = prefix;
  }

  static async connect(options: { url: string; prefix?: string }): Promise<RedisTokenDenylist> {
    const client = createClient({ url: options.url, disableOfflineQueue: true });
    await connectOrFail(client, 'the token denylist');
    return new RedisTokenDenylist(client as RedisClientType, options.prefix ?? 'cs:deny:');
  }

  async add(jti: string, expiresAt: number, now: number): Promise<void> {
    const ttl = Math.max(1, Math.ceil(expiresAt - now));
    await redisCommand('denylist', () =>
      this.#client.set(this.#prefix + jti, '1', { expiration: { type: 'PX', value: ttl } }),
    );
  }

  async has(jti: string): Promise<boolean> {
    return (await redisCommand('denylist', () => this.#client.exists(this.#prefix + jti))) === 1;
  }

  async close(): Promise<void> {
    await this.#client.close().catch(() => undefined);
  }
}
