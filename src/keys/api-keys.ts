import { randomBytes } from 'node:crypto';
import {
  ConfigError,
  constantTimeEqual,
  type InvalidationBus,
  type RandomSource,
  RateLimitedError,
  type RateLimiter,
  type RateLimitPolicy,
  type RecordStore,
  StoreUnavailableError,
  ValidationError,
} from '../core/index.js';
import { MemoryRateLimiter } from '../stores/index.js';
import { ApiKeyInvalidError, ApiKeyNotFoundError, ApiKeyScopeError } from './errors.js';
import {
  assertPrefix,
  formatKey,
  generatePrefix,
  generateSecret,
  hashSecret,
  type ParsedKey,
  parseKey,
} from './key-format.js';
import { assertScope, type Scope } from './scopes.js';
import {
  type ApiKeyInfo,
  infoOf,
  KEY_COLLECTION,
  type KeyRecord,
  keyRecordOf,
} from './stored-key.js';
import { type ApiKeyPrincipal, type Verified, VerifiedCache } from './verified-cache.js';

export interface ApiKeysOptions {
  /** Where the keys live, one record per prefix; shared by every instance. ApiKeys never closes it. */
  records: RecordStore;
  /** Epoch milliseconds. Default `Date.now`. */
  clock?: () => number;
  random?: RandomSource;
  /**
   * How long a successful verification is reused without reading the store,
   * in ms; 0 turns the cache off. Default 5,000. A revoke or rotation on this
   * instance takes effect here at once; on other instances at once through
   * `invalidationBus`, and without one within `cacheTtl`.
   */
  cacheTtl?: number;
  /** Most verified keys cached. Default 10,000. */
  cacheMax?: number;
  /**
   * The limiter for keys with this per-key policy; each key is charged under
   * `api-key:<prefix>`. Default: a MemoryRateLimiter per policy, which counts
   * per process; return a RedisRateLimiter for one limit across instances.
   */
  rateLimiter?: (policy: RateLimitPolicy) => RateLimiter;
  /** Tells other instances to drop their cached verifications of a revoked or rotated key. ApiKeys never closes it. */
  invalidationBus?: InvalidationBus;
  /** How often usage counters are written to the store, in ms. Default 10,000. */
  usageFlushInterval?: number;
  /** Told of failures in background work (a usage flush, an invalidation publish). */
  onError?: (error: unknown) => void;
}

export interface CreateApiKeyInput {
  /** The service the key is for. */
  owner: string;
  scopes: readonly Scope[];
  /** Epoch ms; unset or null for a key that does not expire. */
  expiresAt?: number | null;
  rateLimit?: RateLimitPolicy | null;
  description?: string | null;
}

export interface IssuedApiKey {
  /** The full key: shown once, never stored. */
  key: string;
  info: ApiKeyInfo;
}

export interface RotateApiKeyOptions {
  /** How long the replaced secret stays valid, in ms. Default 0: refused at once. */
  grace?: number;
}

/** Uses of one key counted in this process since the last flush. */
interface PendingUsage {
  uses: number;
  lastUsedAt: number;
}

const BUS_MESSAGE_PREFIX = 'api-key:';
const PAGE_SIZE = 100;
/** Each failed compare-and-set means another writer succeeded, so running out of attempts means heavy contention. */
const MAX_UPDATE_ATTEMPTS = 100;
const MAX_PREFIX_ATTEMPTS = 5;
const MAX_OWNER_LENGTH = 200;
const MAX_DESCRIPTION_LENGTH = 500;

/**
 * API keys for internal services: issue, verify (cached), rotate with a
 * grace period, revoke, and count usage. Keys look like
 * `cs_live_<prefix>_<secret>`; the store keeps only a hash of the secret.
 */
export class ApiKeys {
  readonly #records: RecordStore;
  readonly #clock: () => number;
  readonly #random: RandomSource;
  readonly #cache: VerifiedCache;
  readonly #rateLimiterFor: (policy: RateLimitPolicy) => RateLimiter;
  readonly #rateLimiters = new Map<string, RateLimiter>();
  readonly #bus: InvalidationBus | undefined;
  readonly #onError: (error: unknown) => void;
  /**
   * Settles once the bus delivers to this instance; nothing is cached before,
   * so no message is missed. If subscribing fails (reported to `onError`),
   * `cacheTtl` bounds what is missed, as without a bus.
   */
  readonly #subscribed: Promise<void>;
  readonly #flushTimer: NodeJS.Timeout;
  #pendingUsage = new Map<string, PendingUsage>();

  constructor(options: ApiKeysOptions) {
    const cacheTtl = options.cacheTtl ?? 5_000;
    const cacheMax = options.cacheMax ?? 10_000;
    const flushInterval = options.usageFlushInterval ?? 10_000;
    assertOption('cacheTtl', cacheTtl, 0);
    assertOption('cacheMax', cacheMax, 1);
    assertOption('usageFlushInterval', flushInterval, 1);
    this.#records = options.records;
    this.#clock = options.clock ?? Date.now;
    this.#random = options.random ?? ((size) => randomBytes(size));
    this.#cache = new VerifiedCache({ ttl: cacheTtl, max: cacheMax });
    this.#rateLimiterFor =
      options.rateLimiter ?? ((policy) => new MemoryRateLimiter({ ...policy, clock: this.#clock }));
    this.#bus = options.invalidationBus;
    this.#onError = options.onError ?? (() => {});
    this.#subscribed = this.#bus
      ? this.#bus.subscribe((message) => this.#onInvalidation(message)).catch(this.#onError)
      : Promise.resolve();
    this.#flushTimer = setInterval(() => {
      this.flushUsage().catch(this.#onError);
    }, flushInterval);
    this.#flushTimer.unref();
  }

  /** Issues a key. The returned `key` is the only copy of the secret. */
  async create(input: CreateApiKeyInput): Promise<IssuedApiKey> {
    const now = this.#clock();
    const secret = generateSecret(this.#random);
    const record = newRecord(input, now, hashSecret(secret));
    for (let attempt = 0; attempt < MAX_PREFIX_ATTEMPTS; attempt++) {
      const prefix = generatePrefix(this.#random);
      const version = await this.#records.put(KEY_COLLECTION, prefix, record, {
        now,
        ifVersion: 0,
        expiresAt: record.expiresAt,
      });
      if (version !== null) return { key: formatKey(prefix, secret), info: infoOf(prefix, record) };
    }
    throw new Error(
      `${MAX_PREFIX_ATTEMPTS} random API key prefixes were all taken: is the random source broken?`,
    );
  }

  /** Every live key, in prefix order. */
  async list(): Promise<ApiKeyInfo[]> {
    const now = this.#clock();
    const infos: ApiKeyInfo[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.#records.list(KEY_COLLECTION, { now, after, limit: PAGE_SIZE });
      for (const stored of page) infos.push(infoOf(stored.key, keyRecordOf(stored.value)));
      if (page.length < PAGE_SIZE) return infos;
      after = page.at(-1)?.key;
    }
  }

  /** The live key with this prefix, or null. */
  async get(prefix: string): Promise<ApiKeyInfo | null> {
    assertPrefix(prefix);
    const stored = await this.#records.get(KEY_COLLECTION, prefix, this.#clock());
    return stored && infoOf(prefix, keyRecordOf(stored.value));
  }

  /**
   * Issues a new secret for the key, keeping its prefix and everything else.
   * The secret it replaces stays valid for `grace` ms; one replaced before
   * that (by an earlier rotation) is refused from now on.
   */
  async rotate(prefix: string, options: RotateApiKeyOptions = {}): Promise<IssuedApiKey> {
    assertPrefix(prefix);
    const grace = options.grace ?? 0;
    if (!Number.isSafeInteger(grace) || grace < 0)
      throw new ValidationError('grace must be a non-negative integer number of ms');
    const secret = generateSecret(this.#random);
    const secretHash = hashSecret(secret);
    const rotated = await this.#update(prefix, (record, now) => ({
      ...record,
      secretHash,
      previous: grace > 0 ? { secretHash: record.secretHash, validUntil: now + grace } : null,
      rotatedAt: now,
    }));
    if (!rotated) throw new ApiKeyNotFoundError(prefix);
    await this.#invalidate(prefix);
    return { key: formatKey(prefix, secret), info: infoOf(prefix, rotated) };
  }

  /** Deletes the key; every instance refuses it from then on. False when no key had this prefix. */
  async revoke(prefix: string): Promise<boolean> {
    assertPrefix(prefix);
    const removed = await this.#records.delete(KEY_COLLECTION, prefix);
    this.#pendingUsage.delete(prefix);
    await this.#invalidate(prefix);
    return removed;
  }

  /**
   * The principal of a presented key that is live and, when `requiredScope`
   * is given, has that scope. Throws ApiKeyInvalidError (401), ApiKeyScopeError
   * (403) or RateLimitedError (429); only a verification that passes all
   * three counts as a use.
   */
  async verify(
    presented: string | null | undefined,
    requiredScope?: Scope,
  ): Promise<ApiKeyPrincipal> {
    const parsed = parseKey(presented);
    if (requiredScope !== undefined) assertScope(requiredScope);
    const now = this.#clock();
    const cacheKey = VerifiedCache.keyOf(presented as string);
    const verified = this.#cache.get(cacheKey, now) ?? (await this.#load(parsed, cacheKey, now));
    const { principal, graceUntil } = verified;
    if (graceUntil !== null && now >= graceUntil) {
      this.#cache.delete(cacheKey);
      throw new ApiKeyInvalidError('rotated-out');
    }
    if (principal.expiresAt !== null && now >= principal.expiresAt) {
      this.#cache.delete(cacheKey);
      throw new ApiKeyInvalidError('expired');
    }
    if (requiredScope !== undefined && !principal.scopes.includes(requiredScope))
      throw new ApiKeyScopeError(requiredScope);
    if (principal.rateLimit) {
      const result = await this.#limiterFor(principal.rateLimit).consume(
        `api-key:${principal.prefix}`,
      );
      if (!result.allowed) throw new RateLimitedError(result);
    }
    this.#countUse(principal.prefix, now);
    return principal;
  }

  /**
   * Adds the uses counted in this process since the last flush to the store,
   * with a compare-and-set on each record, so the counts of every instance
   * add up exactly. Counts that could not be written are kept for the next
   * flush; the first failure is thrown after all were tried.
   */
  async flushUsage(): Promise<void> {
    const pending = this.#pendingUsage;
    if (pending.size === 0) return;
    this.#pendingUsage = new Map();
    const outcomes = await Promise.allSettled(
      [...pending].map(async ([prefix, usage]) => {
        try {
          await this.#update(prefix, (record) => ({
            ...record,
            uses: record.uses + usage.uses,
            lastUsedAt: Math.max(record.lastUsedAt ?? 0, usage.lastUsedAt),
          }));
        } catch (error) {
          this.#requeue(prefix, usage);
          throw error;
        }
      }),
    );
    const failure = outcomes.find((outcome) => outcome.status === 'rejected');
    if (failure) throw failure.reason;
  }

  /** Stops the usage timer and flushes what is pending. The record store and the bus stay open. */
  async close(): Promise<void> {
    clearInterval(this.#flushTimer);
    await this.flushUsage();
  }

  /** Reads, checks and (when nothing was dropped meanwhile) caches one key. */
  async #load(parsed: ParsedKey, cacheKey: string, now: number): Promise<Verified> {
    await this.#subscribed;
    const generation = this.#cache.generation;
    const stored = await this.#records.get(KEY_COLLECTION, parsed.prefix, now);
    if (!stored) throw new ApiKeyInvalidError('unknown');
    const record = keyRecordOf(stored.value);
    const presentedHash = hashSecret(parsed.secret);
    let graceUntil: number | null = null;
    if (!constantTimeEqual(presentedHash, record.secretHash)) {
      const previous = record.previous;
      if (!previous || !constantTimeEqual(presentedHash, previous.secretHash))
        throw new ApiKeyInvalidError('secret-mismatch');
      graceUntil = previous.validUntil;
    }
    const principal: ApiKeyPrincipal = Object.freeze({
      prefix: parsed.prefix,
      owner: record.owner,
      scopes: Object.freeze([...record.scopes]),
      expiresAt: record.expiresAt,
      rateLimit: record.rateLimit && Object.freeze({ ...record.rateLimit }),
    });
    const verified = { principal, graceUntil };
    this.#cache.set(cacheKey, verified, now, generation);
    return verified;
  }

  /**
   * Applies `change` to the key's record with a compare-and-set, re-reading
   * and retrying when another writer got there first. Null when the key is gone.
   */
  async #update(
    prefix: string,
    change: (record: KeyRecord, now: number) => KeyRecord,
  ): Promise<KeyRecord | null> {
    for (let attempt = 0; attempt < MAX_UPDATE_ATTEMPTS; attempt++) {
      const now = this.#clock();
      const stored = await this.#records.get(KEY_COLLECTION, prefix, now);
      if (!stored) return null;
      const next = change(keyRecordOf(stored.value), now);
      const version = await this.#records.put(KEY_COLLECTION, prefix, next, {
        now,
        ifVersion: stored.version,
        expiresAt: stored.expiresAt,
      });
      if (version !== null) return next;
    }
    throw new StoreUnavailableError(
      `API key ${prefix} changed under ${MAX_UPDATE_ATTEMPTS} attempts to update it`,
    );
  }

  #limiterFor(policy: RateLimitPolicy): RateLimiter {
    const id = `${policy.limit}/${policy.windowMs}`;
    let limiter = this.#rateLimiters.get(id);
    if (!limiter) {
      limiter = this.#rateLimiterFor(policy);
      this.#rateLimiters.set(id, limiter);
    }
    return limiter;
  }

  #countUse(prefix: string, now: number): void {
    this.#requeue(prefix, { uses: 1, lastUsedAt: now });
  }

  #requeue(prefix: string, usage: PendingUsage): void {
    const pending = this.#pendingUsage.get(prefix);
    if (pending) {
      pending.uses += usage.uses;
      pending.lastUsedAt = Math.max(pending.lastUsedAt, usage.lastUsedAt);
    } else {
      this.#pendingUsage.set(prefix, { ...usage });
    }
  }

  /** Drops this instance's cached verifications of the key and tells the others; a failed publish is reported, not thrown (the change is done). */
  async #invalidate(prefix: string): Promise<void> {
    this.#cache.drop(prefix);
    try {
      await this.#bus?.publish(BUS_MESSAGE_PREFIX + prefix);
    } catch (error) {
      this.#onError(error);
    }
  }

  /** The bus may be shared with a session NearCache, so messages not about keys are skipped. */
  #onInvalidation(message: string | null): void {
    if (message === null) this.#cache.drop(null);
    else if (message.startsWith(BUS_MESSAGE_PREFIX))
      this.#cache.drop(message.slice(BUS_MESSAGE_PREFIX.length));
  }
}

function assertOption(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min)
    throw new ConfigError(`${name} must be an integer of at least ${min}, got ${value}`);
}

/** One line of printable text: owners and descriptions end up in logs and terminals. */
const PRINTABLE_LINE = /^\P{Cc}*$/u;

/** Validates what `create` was given and builds the record it stores. */
function newRecord(input: CreateApiKeyInput, now: number, secretHash: string): KeyRecord {
  const { owner, scopes, expiresAt = null, rateLimit = null, description = null } = input;
  if (!isLine(owner, 1, MAX_OWNER_LENGTH))
    throw new ValidationError(`owner must be 1-${MAX_OWNER_LENGTH} printable characters`);
  if (!Array.isArray(scopes) || scopes.length === 0)
    throw new ValidationError('a key needs at least one scope');
  for (const scope of scopes) assertScope(scope);
  if (expiresAt !== null && !(Number.isSafeInteger(expiresAt) && expiresAt > now))
    throw new ValidationError('expiresAt must be an epoch ms in the future, or null');
  if (
    rateLimit !== null &&
    !(isPositiveInteger(rateLimit.limit) && isPositiveInteger(rateLimit.windowMs))
  )
    throw new ValidationError('rateLimit needs a positive integer limit and windowMs');
  if (description !== null && !isLine(description, 0, MAX_DESCRIPTION_LENGTH))
    throw new ValidationError(
      `description must be at most ${MAX_DESCRIPTION_LENGTH} printable characters`,
    );
  return {
    owner,
    scopes: [...new Set(scopes)],
    description,
    createdAt: now,
    expiresAt,
    rateLimit: rateLimit && { limit: rateLimit.limit, windowMs: rateLimit.windowMs },
    rotatedAt: null,
    secretHash,
    previous: null,
    lastUsedAt: null,
    uses: 0,
  };
}

function isLine(value: unknown, min: number, max: number): value is string {
  return (
    typeof value === 'string' &&
    value.length >= min &&
    value.length <= max &&
    PRINTABLE_LINE.test(value)
  );
}

function isPositiveInteger(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) > 0;
}
