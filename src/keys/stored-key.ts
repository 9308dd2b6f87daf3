import type { RecordValue } from '../core/index.js';
import type { Scope } from './scopes.js';

/** The collection of the RecordStore that holds the keys, one record per prefix. */
export const KEY_COLLECTION = 'api-keys';

/** What the store holds for one key: hashes only, never a secret. */
export type KeyRecord = {
  owner: string;
  scopes: Scope[];
  description: string | null;
  createdAt: number;
  expiresAt: number | null;
  rateLimit: { limit: number; windowMs: number } | null;
  rotatedAt: number | null;
  secretHash: string;
  /** The secret the last rotation replaced, accepted until `validUntil`. */
  previous: { secretHash: string; validUntil: number } | null;
  lastUsedAt: number | null;
  uses: number;
};

/** One key as the admin API and the CLI show it. Never holds a secret or its hash. Times are epoch ms. */
export interface ApiKeyInfo {
  prefix: string;
  owner: string;
  scopes: Scope[];
  description: string | null;
  createdAt: number;
  /** Null for a key that does not expire. */
  expiresAt: number | null;
  /** Verifications allowed per window; null for no per-key limit. */
  rateLimit: { limit: number; windowMs: number } | null;
  rotatedAt: number | null;
  /** Until when the secret replaced by the last rotation was (or is) accepted; null when no grace was given. */
  previousValidUntil: number | null;
  /** As of the last usage flush of every instance. */
  lastUsedAt: number | null;
  uses: number;
}

export function infoOf(prefix: string, record: KeyRecord): ApiKeyInfo {
  return {
    prefix,
    owner: record.owner,
    scopes: [...record.scopes],
    description: record.description,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
    rateLimit: record.rateLimit && { ...record.rateLimit },
    rotatedAt: record.rotatedAt,
    previousValidUntil: record.previous?.validUntil ?? null,
    lastUsedAt: record.lastUsedAt,
    uses: record.uses,
  };
}

/** Records of this collection are written only by ApiKeys, so their shape is known. */
export function keyRecordOf(value: RecordValue): KeyRecord {
  return value as unknown as KeyRecord;
}
