import type { SessionCodec } from './codec.js';
import { ConfigError } from './errors.js';
import type { InvalidationBus } from './invalidation-bus.js';
import type { Lease } from './lease.js';
import type { OutboxOptions } from './outbox.js';
import type { RateLimiter, RateLimitPolicy } from './rate-limiter.js';
import type { RecordStore } from './record-store.js';
import type { SessionStore } from './store.js';

/**
 * One engine (memory, SQLite, Redis, PostgreSQL…) at one URL: everything the
 * gateway keeps there. Getting a Backend opens nothing; each `open…` opens
 * its own connections and the caller closes what it opened. The optional
 * parts are absent where the engine cannot share them between processes.
 */
export interface Backend {
  /** The registered name, such as `redis`. */
  readonly name: string;
  /** The URL with any password replaced, for messages and logs. */
  readonly displayUrl: string;
  /** Whether several processes can serve this one backend (false for memory and SQLite). */
  readonly shared: boolean;
  /** With `outbox`, a store that keeps one (`SessionStore.outbox`; core/outbox.ts); `true` takes the defaults. */
  openSessions(
    options?: { codec?: SessionCodec; outbox?: OutboxOptions | true } & OpenOptions,
  ): Promise<SessionStore>;
  /** The record store beside the sessions, for users, API keys, refresh families and revoked tokens. */
  openRecords(options?: OpenOptions): Promise<RecordStore>;
  /** Keeps sweeps to one instance at a time; absent where one process owns the store or two sweeping is harmless. */
  openLease?(): Promise<Lease>;
  /** A bus on a channel of its own per `topic` (`sessions`, `keys`); absent where processes cannot hear each other. */
  openBus?(topic: string): Promise<InvalidationBus>;
  /** Rate limits every process shares; absent where limits can only be counted per process. */
  openLimiters?(): Promise<RateLimiters>;
}

export interface OpenOptions {
  /**
   * Open only what is already there, for a store read from (a migration's
   * source): where opening would create the store (a SQLite file), a missing
   * one is a StoreNotFoundError instead. Backends whose opening creates no
   * new place to look at ignore it (Redis; PostgreSQL creates its tables),
   * so callers also check that what they opened holds anything.
   */
  mustExist?: boolean;
}

/** Limiters on one connection of their own, each counting under its own name. */
export interface RateLimiters {
  create(name: string, options: RateLimitPolicy & { clock?: () => number }): RateLimiter;
  close(): Promise<void>;
}

/** What a backend registers: the URL schemes it answers and how it reads its URL. */
export interface BackendDefinition {
  /** Schemes with their colon, such as `['redis:', 'rediss:']`. */
  readonly schemes: readonly string[];
  /** The URL forms, for the message that lists what is supported. */
  readonly usage: string;
  /** Takes `url` apart without connecting; ConfigError when it is malformed. */
  parse(url: string): Backend;
}

const definitions = new Map<string, BackendDefinition>();

/** Makes `openBackend` answer the definition's schemes. A scheme registered twice is a ConfigError. */
export function registerBackend(definition: BackendDefinition): void {
  for (const scheme of definition.schemes) {
    if (!/^[a-z][a-z0-9+.-]*:$/.test(scheme))
      throw new ConfigError(`a backend scheme looks like "redis:", got ${JSON.stringify(scheme)}`);
    const existing = definitions.get(scheme);
    if (existing && existing !== definition)
      throw new ConfigError(`the store URL scheme ${scheme} is registered twice`);
  }
  for (const scheme of definition.schemes) definitions.set(scheme, definition);
}

/**
 * The backend at `url`, by its scheme, checked but not connected, so a bad URL
 * is refused before anything opens. ConfigError for an unknown scheme or a
 * malformed URL.
 */
export function openBackend(url: string): Backend {
  if (typeof url !== 'string')
    throw new ConfigError(`a store URL must be a string, got ${typeof url}`);
  const definition = definitions.get(url.slice(0, url.indexOf(':') + 1));
  if (!definition) {
    const supported = [...new Set(definitions.values())].map((known) => known.usage).join(', ');
    throw new ConfigError(
      `unsupported store URL ${JSON.stringify(redactUrl(url))}: use ${supported}`,
    );
  }
  return definition.parse(url);
}

/** The URL with any password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/g, '//$1:***@');
}
