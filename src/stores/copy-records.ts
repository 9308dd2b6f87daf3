import {
  type RecordStore,
  type RecordValue,
  type StoredRecord,
  ValidationError,
} from '../core/index.js';

/** Where a record copy stands: pass `cursor` back to resume. */
export interface RecordCopyProgress {
  /** The last record handled, or null before the first and once complete. */
  cursor: RecordCursor | null;
  copied: number;
  /** Already in the target with the same value and expiry (an earlier, interrupted run). */
  skipped: number;
  /** In the target with another value or expiry, and replaced by the source's. */
  refreshed: number;
  /** Read back from the target after writing: every record of the batch, or the copy fails. */
  verified: number;
  /** Records handled so far per collection. */
  collections: Record<string, number>;
}

export interface RecordCursor {
  collection: string;
  /** The last key copied in `collection`; null to start it from its first key. */
  key: string | null;
}

export interface RecordCopyOptions {
  /** The collections to copy, in order; the caller knows which exist (see the gateway's list). */
  collections: readonly string[];
  batchSize?: number;
  cursor?: RecordCursor | null;
  clock?: () => number;
  onProgress?: (progress: RecordCopyProgress) => void | Promise<void>;
}

/**
 * Copies the live records of each collection, a page at a time in key order,
 * keeping each record's expiry. Versions count writes in each store and do
 * not carry over, so a record is compared by value and expiry: absent in the
 * target, it is created (`ifVersion: 0`); different, it is replaced at the
 * version just read (`ifVersion`), so that a write the target took meanwhile
 * is kept rather than overwritten. A repeat run changes nothing, and resumes
 * from the cursor of an interrupted one.
 */
export async function copyRecords(
  from: RecordStore,
  to: RecordStore,
  options: RecordCopyOptions,
): Promise<RecordCopyProgress> {
  const progress = startingProgress(options.cursor);
  await eachRecordPage(from, progress, options, async (collection, page, now) => {
    for (const record of page) progress[await copyOne(to, collection, record, now)]++;
    await verify(to, collection, page, now);
    progress.verified += page.length;
  });
  return progress;
}

/** Where a copy or a move of records starts: nothing counted, after `cursor` when resuming. */
export function startingProgress(cursor: RecordCursor | null = null): RecordCopyProgress {
  return { cursor, copied: 0, skipped: 0, refreshed: 0, verified: 0, collections: {} };
}

/**
 * Pages through the live records of `options.collections` in `source`, in key
 * order, after `progress.cursor` when resuming. `handle` does a page's work
 * and counts it; then the page's collection count and the cursor move on and
 * `onProgress` hears of it. The cursor is null once every collection is done.
 */
export async function eachRecordPage(
  source: RecordStore,
  progress: RecordCopyProgress,
  options: Omit<RecordCopyOptions, 'cursor'>,
  handle: (collection: string, page: readonly StoredRecord[], now: number) => Promise<void>,
): Promise<void> {
  const batchSize = options.batchSize ?? 500;
  const clock = options.clock ?? Date.now;
  const start = resumeAt(options.collections, progress.cursor);
  for (const collection of options.collections.slice(start)) {
    let after = progress.cursor?.collection === collection ? progress.cursor.key : null;
    progress.collections[collection] ??= 0;
    for (;;) {
      const now = clock();
      const page = await source.list(collection, {
        now,
        after: after ?? undefined,
        limit: batchSize,
      });
      if (page.length === 0) break;
      await handle(collection, page, now);
      progress.collections[collection] += page.length;
      after = page[page.length - 1]?.key ?? null;
      progress.cursor = { collection, key: after };
      await options.onProgress?.(snapshot(progress));
      if (page.length < batchSize) break;
    }
  }
  progress.cursor = null;
}

/** Live records per collection, without writing anything (a dry run). */
export async function countRecords(
  store: RecordStore,
  collections: readonly string[],
  options: { batchSize?: number; clock?: () => number } = {},
): Promise<Record<string, number>> {
  const batchSize = options.batchSize ?? 500;
  const now = (options.clock ?? Date.now)();
  const counts: Record<string, number> = {};
  for (const collection of collections) {
    counts[collection] = 0;
    let after: string | undefined;
    for (;;) {
      const page = await store.list(collection, { now, after, limit: batchSize });
      counts[collection] += page.length;
      after = page[page.length - 1]?.key;
      if (page.length < batchSize) break;
    }
  }
  return counts;
}

async function copyOne(
  to: RecordStore,
  collection: string,
  record: StoredRecord,
  now: number,
): Promise<'copied' | 'skipped' | 'refreshed'> {
  const put = (ifVersion: number) =>
    to.put(collection, record.key, record.value, { now, ifVersion, expiresAt: record.expiresAt });
  if ((await put(0)) !== null) return 'copied';
  const existing = await to.get(collection, record.key, now);
  if (existing === null) {
    // Expired or removed between the two calls: create it again.
    if ((await put(0)) !== null) return 'copied';
    return 'skipped';
  }
  if (sameRecord(existing, record)) return 'skipped';
  return (await put(existing.version)) !== null ? 'refreshed' : 'skipped';
}

async function verify(
  to: RecordStore,
  collection: string,
  page: readonly StoredRecord[],
  now: number,
): Promise<void> {
  const present = await Promise.all(page.map((record) => to.get(collection, record.key, now)));
  const lost = present.filter((record) => record === null).length;
  if (lost > 0)
    throw new Error(
      `copy verification failed: ${lost} records of ${collection} missing in the target`,
    );
}

function sameRecord(a: StoredRecord, b: StoredRecord): boolean {
  return a.expiresAt === b.expiresAt && sameValue(a.value, b.value);
}

/** By content, not by text: PostgreSQL's jsonb, for one, gives an object's keys back in an order of its own. */
function sameValue(a: RecordValue, b: RecordValue): boolean {
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return a === b;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, index) => sameValue(item, b[index] as RecordValue));
  }
  const keys = Object.keys(a);
  return (
    keys.length === Object.keys(b).length &&
    keys.every((key) => key in b && sameValue(a[key] as RecordValue, b[key] as RecordValue))
  );
}

function snapshot(progress: RecordCopyProgress): RecordCopyProgress {
  return {
    ...progress,
    cursor: progress.cursor && { ...progress.cursor },
    collections: { ...progress.collections },
  };
}

/** Where in `collections` a run resumed from `cursor` starts; a cursor from elsewhere is refused. */
function resumeAt(collections: readonly string[], cursor: RecordCursor | null): number {
  const start = cursor ? collections.indexOf(cursor.collection) : 0;
  if (start < 0)
    throw new ValidationError(
      `cannot resume: ${JSON.stringify(cursor?.collection)} is not one of the collections to move`,
    );
  return start;
}
