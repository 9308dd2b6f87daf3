import type { RecordStore } from '../core/index.js';
import type { TokenDenylist } from './denylist.js';

/** The RecordStore collection of revoked token ids. */
export const REVOKED_JTI_COLLECTION = 'revoked-jti';

/**
 * Revoked `jti`s as records of the gateway's RecordStore (collection
 * `revoked-jti`), each expiring when its token would have, so that every
 * instance refuses a revoked token and the collection follows the revocation
 * rate rather than growing.
 */
export class RecordTokenDenylist implements TokenDenylist {
  readonly #store: RecordStore;

  constructor(store: RecordStore) {
    this.#store = store;
  }

  async add(jti: string, expiresAt: number, now: number): Promise<void> {
    await this.#store.put(REVOKED_JTI_COLLECTION, jti, true, { now, expiresAt });
  }

  async has(jti: string, now: number): Promise<boolean> {
    return (await this.#store.get(REVOKED_JTI_COLLECTION, jti, now)) !== null;
  }

  /** Leaves the RecordStore open: it is shared, and whoever opened it closes it. */
  async close(): Promise<void> {}
}
