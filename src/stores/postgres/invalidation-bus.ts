import type { Client, ClientConfig, Notification } from 'pg';
import { ConfigError, type InvalidationBus } from '../../core/index.js';
import { serverName, unavailable } from './connection.js';
import { loadPg, type PgDriver } from './driver.js';

export interface PostgresInvalidationBusOptions {
  /** `postgres://user:password@host:5432/database`. */
  connectionString: string;
  /**
   * The LISTEN/NOTIFY channel shared by every instance of one deployment:
   * lower-case letters, digits and `_`, at most 63. Default `clawsession_invalidate`.
   */
  channel?: string;
  /** Longest wait for a connection, in ms. Default 5000. */
  connectTimeout?: number;
  /** Longest wait between attempts to get the listening connection back, in ms. Default 2000. */
  maxReconnectDelay?: number;
}

const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/;
/** NOTIFY payloads must stay under 8000 bytes. */
const MAX_PAYLOAD_BYTES = 7999;

/**
 * Invalidation over PostgreSQL LISTEN/NOTIFY, for deployments without Redis.
 * Publishing is one `pg_notify` on a connection of its own; listening holds
 * one more. NOTIFY is delivered only to connections listening at the time,
 * so when the listening connection is lost and comes back, the subscriber is
 * told to drop everything (`handler(null)`), as with the Redis bus.
 */
export class PostgresInvalidationBus implements InvalidationBus {
  readonly #pg: PgDriver;
  readonly #config: ClientConfig;
  readonly #channel: string;
  readonly #maxReconnectDelay: number;
  readonly #publisher: Client;
  #listener: Client | null = null;
  #handler: ((id: string | null) => void) | null = null;
  #closed = false;
  #reconnectTimer: NodeJS.Timeout | undefined;

  private constructor(pg: PgDriver, options: PostgresInvalidationBusOptions, publisher: Client) {
    this.#pg = pg;
    this.#config = configOf(options);
    this.#channel = options.channel ?? 'clawsession_invalidate';
    this.#maxReconnectDelay = options.maxReconnectDelay ?? 2000;
    this.#publisher = publisher;
  }

  static async connect(options: PostgresInvalidationBusOptions): Promise<PostgresInvalidationBus> {
    const channel = options.channel ?? 'clawsession_invalidate';
    if (!CHANNEL.test(channel))
      throw new ConfigError('a postgres invalidation channel is [a-z_][a-z0-9_]*, at most 63 long');
    const pg = await loadPg();
    const publisher = new pg.Client(configOf(options));
    // A dropped publisher connection fails the next publish; unheard, its error would end the process.
    publisher.on('error', () => undefined);
    try {
      await publisher.connect();
    } catch (error) {
      throw unavailable(serverName(configOf(options), 'invalidation bus'), error);
    }
    return new PostgresInvalidationBus(pg, options, publisher);
  }

  async publish(id: string): Promise<void> {
    if (Buffer.byteLength(id) > MAX_PAYLOAD_BYTES)
      throw new ConfigError('an invalidation message must stay under 8000 bytes');
    try {
      await this.#publisher.query('SELECT pg_notify($1, $2)', [this.#channel, id]);
    } catch (error) {
      throw unavailable(serverName(this.#config, 'invalidation bus'), error);
    }
  }

  async subscribe(handler: (id: string | null) => void): Promise<void> {
    this.#handler = handler;
    await this.#listen();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#reconnectTimer);
    await Promise.allSettled([this.#listener?.end(), this.#publisher.end()]);
  }

  /** Opens the listening connection; on its loss, reopens it with backoff and says "drop everything". */
  async #listen(attempt = 0): Promise<void> {
    const client = new this.#pg.Client(this.#config);
    client.on('notification', (message: Notification) => {
      if (message.channel === this.#channel && message.payload !== undefined)
        this.#handler?.(message.payload);
    });
    const lost = () => {
      if (this.#listener !== client || this.#closed) return;
      this.#listener = null;
      this.#reconnect(0);
    };
    client.on('error', lost);
    client.on('end', lost);
    try {
      await client.connect();
      await client.query(`LISTEN "${this.#channel}"`);
    } catch (error) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      if (attempt === 0 && this.#listener === null && !this.#reconnectTimer)
        throw unavailable(serverName(this.#config, 'invalidation bus'), error);
      this.#reconnect(attempt + 1);
      return;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#listener = client;
    // Anything published while no connection listened is lost: every cache drops all it holds.
    if (attempt > 0) this.#handler?.(null);
  }

  #reconnect(attempt: number): void {
    if (this.#closed) return;
    const delay = Math.min(50 * 2 ** attempt, this.#maxReconnectDelay);
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      void this.#listen(attempt + 1);
    }, delay);
    this.#reconnectTimer.unref();
  }
}

function configOf(options: PostgresInvalidationBusOptions): ClientConfig {
  return {
    connectionString: options.connectionString,
    connectionTimeoutMillis: options.connectTimeout ?? 5000,
    keepAlive: true,
    fallback_application_name: 'clawsession invalidations',
  };
}
