import type { RecordCopyProgress, RecordCursor } from './copy-records.js';
import type { CopyProgress } from './migrate.js';
import type { MigratingStore } from './migrating.js';
import type { MigratingRecordStore } from './migrating-records.js';

/*
 * Draining moves what the old store of a migrating: store still holds, by
 * the same `move` the gateways make on access, so the two can run at once:
 * `copied` counts what the drain moved, `skipped` what a gateway had moved
 * or someone deleted first. A move a gateway has left between its two steps
 * (its create in new done, its delete in old not yet) is seen as present in
 * new; the drain deletes those copies in old at the end of its pass, when
 * any such request has long finished, so that old ends empty.
 */

export interface DrainOptions {
  batchSize?: number;
  clock?: () => number;
}

/** Moves every live session of `store.old` into `store.new`; `verified` counts those gone from old. */
export async function drainSessions(
  store: MigratingStore,
  options: DrainOptions & {
    cursor?: string | null;
    onProgress?: (progress: CopyProgress) => void | Promise<void>;
  } = {},
): Promise<CopyProgress> {
  const batchSize = options.batchSize ?? 500;
  const clock = options.clock ?? Date.now;
  const progress: CopyProgress = {
    cursor: options.cursor ?? null,
    copied: 0,
    skipped: 0,
    refreshed: 0,
    verified: 0,
  };
  const leftInOld: string[] = [];
  do {
    const now = clock();
    const page = await store.old.scan(progress.cursor, batchSize, now);
    for (const session of page.sessions) {
      const { outcome } = await store.move(session.id, now);
      if (outcome === 'moved') progress.copied++;
      else progress.skipped++;
      if (outcome === 'present') leftInOld.push(session.id);
    }
    const stillInOld = await Promise.all(
      page.sessions.map((session) => store.old.get(session.id, now)),
    );
    progress.verified += stillInOld.filter((session) => session === null).length;
    progress.cursor = page.cursor;
    await options.onProgress?.({ ...progress });
  } while (progress.cursor !== null);
  for (const id of leftInOld) if (await store.old.delete(id)) progress.verified++;
  return progress;
}

/** Moves every live record of `collections` from `store.old` into `store.new`. */
export async function drainRecords(
  store: MigratingRecordStore,
  options: DrainOptions & {
    collections: readonly string[];
    cursor?: RecordCursor | null;
    onProgress?: (progress: RecordCopyProgress) => void | Promise<void>;
  },
): Promise<RecordCopyProgress> {
  const batchSize = options.batchSize ?? 500;
  const clock = options.clock ?? Date.now;
  const progress: RecordCopyProgress = {
    cursor: options.cursor ?? null,
    copied: 0,
    skipped: 0,
    refreshed: 0,
    verified: 0,
    collections: {},
  };
  const start = progress.cursor ? options.collections.indexOf(progress.cursor.collection) : 0;
  if (start < 0)
    throw new Error(`cannot resume: ${progress.cursor?.collection} is not a collection to move`);
  const leftInOld: { collection: string; key: string; version: number }[] = [];
  for (const collection of options.collections.slice(start)) {
    let after = progress.cursor?.collection === collection ? progress.cursor.key : null;
    progress.collections[collection] ??= 0;
    for (;;) {
      const now = clock();
      const page = await store.old.list(collection, {
        now,
        after: after ?? undefined,
        limit: batchSize,
      });
      if (page.length === 0) break;
      for (const record of page) {
        const { outcome } = await store.move(collection, record.key, now);
        if (outcome === 'moved') progress.copied++;
        else progress.skipped++;
        if (outcome === 'present') leftInOld.push({ collection, ...record });
      }
      const stillInOld = await Promise.all(
        page.map((record) => store.old.get(collection, record.key, now)),
      );
      progress.verified += stillInOld.filter((record) => record === null).length;
      progress.collections[collection] += page.length;
      after = page[page.length - 1]?.key ?? null;
      progress.cursor = { collection, key: after };
      await options.onProgress?.({
        ...progress,
        cursor: { ...progress.cursor },
        collections: { ...progress.collections },
      });
      if (page.length < batchSize) break;
    }
  }
  for (const { collection, key, version } of leftInOld)
    if (await store.old.delete(collection, key, { ifVersion: version })) progress.verified++;
  progress.cursor = null;
  return progress;
}
