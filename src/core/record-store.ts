/** A JSON value as records hold it. */
export type RecordValue =
  | string
  | number
  | boolean
  | null
  | RecordValue[]
  | { [key: string]: RecordValue };

/** One record of a collection. Times are epoch ms. */
export interface StoredRecord {
  key: string;
  value: RecordValue;
  /** 1 at creation, one more at every put. */
  version: number;
  /** When the record stops existing; null for never. */
  expiresAt: number | null;
}

export interface PutOptions {
  now: number;
  /**
   * Compare-and-set: 0 writes only when no live record has the key, n only
   * when the live record is at version n. Unset writes unconditionally.
   */
  ifVersion?: number;
  /** Absolute expiry in epoch ms; null or unset for a record that does not expire. */
  expiresAt?: number | null;
}

/**
 * A small versioned key-value table of named collections, for what the
 * gateway keeps besides sessions (API keys, users, refresh-token families,
 * revoked token ids), on the same backend as the sessions. Collections are
 * expected to be small enough to list; every step on one record is atomic.
 * Collection names and keys are 1–200 characters without control characters.
 */
export interface RecordStore {
  /** The live record, or null when it is missing or expired (enforced on read). */
  get(collection: string, key: string, now: number): Promise<StoredRecord | null>;
  /** Creates or replaces; the new version, or null when `ifVersion` did not match. */
  put(
    collection: string,
    key: string,
    value: RecordValue,
    options: PutOptions,
  ): Promise<number | null>;
  /** Removes the record (only at `ifVersion` when given). False when nothing was removed. */
  delete(collection: string, key: string, options?: { ifVersion?: number }): Promise<boolean>;
  /** Live records of a collection in key order, after `after` (exclusive), at most `limit`. */
  list(
    collection: string,
    options: { now: number; after?: string; limit: number },
  ): Promise<StoredRecord[]>;
  /** Removes up to `limit` expired records of any collection; how many it removed. */
  sweepExpired(now: number, limit: number): Promise<number>;
  close(): Promise<void>;
}
