import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Scope } from './scopes.js';

/** Who a verified key speaks for. */
export interface ApiKeyPrincipal {
  readonly prefix: string;
  readonly owner: string;
  readonly scopes: readonly Scope[];
  /** Null for a key that does not expire. */
  readonly expiresAt: number | null;
  readonly rateLimit: { readonly limit: number; readonly windowMs: number } | null;
}

/** One successful verification of one exact key string. */
export interface Verified {
  principal: ApiKeyPrincipal;
  /** Set when the key matched the secret a rotation replaced: accepted only until then. */
  graceUntil: number | null;
}

interface Entry extends Verified {
  cachedAt: number;
}

/**
 * Successful verifications, keyed by SHA-256 of the whole presented key so
 * that no secret stays in memory. Failures are never stored, so a caller
 * presenting random keys adds nothing; the LRU bound covers the rest.
 */
export class VerifiedCache {
  readonly #entries: LRUCache<string, Entry>;
  readonly #ttl: number;
  /** Bumped by every drop; a verification that saw it move does not cache what it read before. */
  #generation = 0;

  constructor(options: { ttl: number; max: number }) {
    this.#ttl = options.ttl;
    this.#entries = new LRUCache({ max: options.max });
  }

  get generation(): number {
    return this.#generation;
  }

  static keyOf(presented: string): string {
    return createHash('sha256').update(presented).digest('base64url');
  }

  /** The entry while younger than the ttl, else undefined. */
  get(cacheKey: string, now: number): Verified | undefined {
    const entry = this.#entries.get(cacheKey);
    if (!entry) return undefined;
    if (now - entry.cachedAt < this.#ttl && now >= entry.cachedAt) return entry;
    this.#entries.delete(cacheKey);
    return undefined;
  }

  /** Stores `verified` unless caching is off or a drop happened since `generation` was read. */
  set(cacheKey: string, verified: Verified, now: number, generation: number): void {
    if (this.#ttl <= 0 || generation !== this.#generation) return;
    this.#entries.set(cacheKey, { ...verified, cachedAt: now });
  }

  delete(cacheKey: string): void {
    this.#entries.delete(cacheKey);
  }

  /** Forgets every entry of the key `prefix`, or everything for null. */
  drop(prefix: string | null): void {
    this.#generation++;
    if (prefix === null) {
      this.#entries.clear();
      return;
    }
    // A scan, since entries are keyed by the whole key: drops are rare and the cache is bounded.
    const dropped = [...this.#entries.entries()].filter(
      ([, entry]) => entry.principal.prefix === prefix,
    );
    for (const [cacheKey] of dropped) this.#entries.delete(cacheKey);
  }
}
