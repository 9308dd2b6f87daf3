import type { PutOptions, RecordStore, RecordValue, StoredRecord } from '../core/index.js';

/**
 * The records of a fleet moving from one store to another while it serves,
 * by the rules of MigratingStore (see there): nothing is written to old; a
 * record moves by `put` in new at `ifVersion: 0` and then a delete in old at
 * the version read, which only the mover that created it in new makes; that
 * delete finding the record gone or changed means it was deleted meanwhile,
 * and the copy in new is deleted too. Every read, write and compare-and-set
 * first moves the record, so a compare-and-set (an API key's usage, a refresh
 * family's advance, a user's password) runs against new's version only.
 * Versions count writes in each store: a moved record starts again at 1.
 */
export class MigratingRecordStore implements RecordStore {
  readonly old: RecordStore;
  readonly new: RecordStore;
  /** For the one call without a `now`, a delete at a version, which moves the record first. */
  readonly #clock: () => number;

  constructor(old: RecordStore, next: RecordStore, options: { clock?: () => number } = {}) {
    this.old = old;
    this.new = next;
    this.#clock = options.clock ?? Date.now;
  }

  async get(collection: string, key: string, now: number): Promise<StoredRecord | null> {
    return (
      (await this.new.get(collection, key, now)) ?? (await this.move(collection, key, now)).record
    );
  }

  /** Moves the record from old to new: `moved` by this call, `present` in new already, or `absent`. */
  async move(
    collection: string,
    key: string,
    now: number,
  ): Promise<{ outcome: 'moved' | 'present' | 'absent'; record: StoredRecord | null }> {
    const found = await this.old.get(collection, key, now);
    if (!found) {
      // Another mover may have moved it since new was read: its put came before its delete.
      const record = await this.new.get(collection, key, now);
      return { outcome: record ? 'present' : 'absent', record };
    }
    const version = await this.new.put(collection, key, found.value, {
      now,
      ifVersion: 0,
      expiresAt: found.expiresAt,
    });
    if (version === null) {
      const record = await this.new.get(collection, key, now);
      return { outcome: record ? 'present' : 'absent', record };
    }
    if (await this.old.delete(collection, key, { ifVersion: found.version }))
      return { outcome: 'moved', record: { ...found, version } };
    await this.new.delete(collection, key);
    return { outcome: 'absent', record: null };
  }

  async put(
    collection: string,
    key: string,
    value: RecordValue,
    options: PutOptions,
  ): Promise<number | null> {
    await this.get(collection, key, options.now);
    return this.new.put(collection, key, value, options);
  }

  /** Unconditional: in old, then in new. At a version: the moved record, in new. */
  async delete(
    collection: string,
    key: string,
    options: { ifVersion?: number } = {},
  ): Promise<boolean> {
    if (options.ifVersion === undefined) {
      const inOld = await this.old.delete(collection, key);
      const inNew = await this.new.delete(collection, key);
      return inOld || inNew;
    }
    await this.get(collection, key, this.#clock());
    return this.new.delete(collection, key, options);
  }

  /** Both stores' records in key order, new's where both have the key. */
  async list(
    collection: string,
    options: { now: number; after?: string; limit: number },
  ): Promise<StoredRecord[]> {
    const [inNew, inOld] = await Promise.all([
      this.new.list(collection, options),
      this.old.list(collection, options),
    ]);
    const byKey = new Map(inOld.map((record) => [record.key, record]));
    for (const record of inNew) byKey.set(record.key, record);
    return [...byKey.values()].sort((a, b) => compareKeys(a.key, b.key)).slice(0, options.limit);
  }

  async sweepExpired(now: number, limit: number): Promise<number> {
    const swept = await this.new.sweepExpired(now, limit);
    return swept >= limit ? swept : swept + (await this.old.sweepExpired(now, limit - swept));
  }

  async close(): Promise<void> {
    await Promise.all([this.old.close(), this.new.close()]);
  }
}

/** The order every RecordStore lists keys in: the bytes of their UTF-8. */
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
