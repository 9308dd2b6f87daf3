import type { RecordStore, RecordValue } from '../core/index.js';
import type { RefreshFamily, RefreshFamilyStore } from './refresh-family-store.js';

/** The RecordStore collection of refresh-token families. */
export const REFRESH_FAMILY_COLLECTION = 'refresh-families';

/**
 * Refresh families as records of the gateway's RecordStore (collection
 * `refresh-families`, keyed by family id, expiring with the family), so they
 * live on the same backend as the sessions and every instance shares them.
 * `advance` is a compare-and-set on the record's version: of two instances
 * advancing one family from one generation, exactly one succeeds.
 */
export class RecordRefreshFamilyStore implements RefreshFamilyStore {
  readonly #store: RecordStore;

  constructor(store: RecordStore) {
    this.#store = store;
  }

  async create(family: RefreshFamily): Promise<void> {
    await this.#store.put(REFRESH_FAMILY_COLLECTION, family.id, toValue(family), {
      now: family.rotatedAt,
      expiresAt: family.expiresAt,
    });
  }

  async get(id: string, now: number): Promise<RefreshFamily | null> {
    const record = await this.#store.get(REFRESH_FAMILY_COLLECTION, id, now);
    return record ? (record.value as unknown as RefreshFamily) : null;
  }

  async advance(
    id: string,
    fromGeneration: number,
    next: Pick<RefreshFamily, 'currentHash' | 'previousHash' | 'rotatedAt'>,
  ): Promise<boolean> {
    // The rotation happens now, so its time is the clock that decides whether the family still lives.
    const now = next.rotatedAt;
    const record = await this.#store.get(REFRESH_FAMILY_COLLECTION, id, now);
    if (!record) return false;
    const family = record.value as unknown as RefreshFamily;
    if (family.generation !== fromGeneration) return false;
    const advanced = { ...family, ...next, generation: fromGeneration + 1 };
    const version = await this.#store.put(REFRESH_FAMILY_COLLECTION, id, toValue(advanced), {
      now,
      ifVersion: record.version,
      expiresAt: family.expiresAt,
    });
    return version !== null;
  }

  async delete(id: string): Promise<boolean> {
    return this.#store.delete(REFRESH_FAMILY_COLLECTION, id);
  }

  /** Leaves the RecordStore open: it is shared, and whoever opened it closes it. */
  async close(): Promise<void> {}
}

function toValue(family: RefreshFamily): RecordValue {
  return {
    id: family.id,
    sessionId: family.sessionId,
    userId: family.userId,
    generation: family.generation,
    currentHash: family.currentHash,
    previousHash: family.previousHash,
    rotatedAt: family.rotatedAt,
    expiresAt: family.expiresAt,
  };
}
