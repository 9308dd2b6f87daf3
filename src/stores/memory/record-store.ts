import {
  assertIfVersion,
  assertLimit,
  assertListOptions,
  assertName,
  assertNow,
  assertPutOptions,
  encodeValue,
} from '../../core/backend-kit.js';
import type { PutOptions, RecordStore, RecordValue, StoredRecord } from '../../core/index.js';
import { compareKeys } from './record-order.js';

interface Entry {
  json: string;
  version: number;
  expiresAt: number | null;
}

/** Records in process memory: for tests and single-instance development. */
export class MemoryRecordStore implements RecordStore {
  readonly #collections = new Map<string, Map<string, Entry>>();

  async get(collection: string, key: string, now: number): Promise<StoredRecord | null> {
    assertName('collection', collection);
    assertName('key', key);
    assertNow(now);
    const entry = this.#live(collection, key, now);
    return entry ? present(key, entry) : null;
  }

  async put(
    collection: string,
    key: string,
    value: RecordValue,
    options: PutOptions,
  ): Promise<number | null> {
    assertName('collection', collection);
    assertName('key', key);
    assertPutOptions(options);
    const json = encodeValue(value);
    const current = this.#live(collection, key, options.now);
    if (options.ifVersion !== undefined && options.ifVersion !== (current?.version ?? 0)) {
      return null;
    }
    const version = (current?.version ?? 0) + 1;
    let entries = this.#collections.get(collection);
    if (!entries) {
      entries = new Map();
      this.#collections.set(collection, entries);
    }
    entries.set(key, { json, version, expiresAt: options.expiresAt ?? null });
    return version;
  }

  async delete(collection: string, key: string, options: { ifVersion?: number } = {}) {
    assertName('collection', collection);
    assertName('key', key);
    assertIfVersion(options.ifVersion);
    const entries = this.#collections.get(collection);
    const entry = entries?.get(key);
    if (!entries || !entry) return false;
    if (options.ifVersion !== undefined && options.ifVersion !== entry.version) return false;
    return entries.delete(key);
  }

  async list(
    collection: string,
    options: { now: number; after?: string; limit: number },
  ): Promise<StoredRecord[]> {
    assertName('collection', collection);
    assertListOptions(options);
    const entries = this.#collections.get(collection);
    if (!entries) return [];
    const after = options.after;
    return [...entries]
      .filter(
        ([key, entry]) =>
          (after === undefined || compareKeys(key, after) > 0) && isLive(entry, options.now),
      )
      .sort(([a], [b]) => compareKeys(a, b))
      .slice(0, options.limit)
      .map(([key, entry]) => present(key, entry));
  }

  async sweepExpired(now: number, limit: number): Promise<number> {
    assertNow(now);
    assertLimit(limit);
    let removed = 0;
    for (const entries of this.#collections.values()) {
      for (const [key, entry] of entries) {
        if (removed === limit) return removed;
        if (!isLive(entry, now)) {
          entries.delete(key);
          removed++;
        }
      }
    }
    return removed;
  }

  async close(): Promise<void> {
    this.#collections.clear();
  }

  #live(collection: string, key: string, now: number): Entry | undefined {
    const entry = this.#collections.get(collection)?.get(key);
    return entry && isLive(entry, now) ? entry : undefined;
  }
}

function isLive(entry: Entry, now: number): boolean {
  return entry.expiresAt === null || entry.expiresAt > now;
}

function present(key: string, entry: Entry): StoredRecord {
  return {
    key,
    value: JSON.parse(entry.json) as RecordValue,
    version: entry.version,
    expiresAt: entry.expiresAt,
  };
}
