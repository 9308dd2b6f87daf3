import { setTimeout as delay } from 'node:timers/promises';
import {
  eachRecordPage,
  type RecordCopyProgress,
  type RecordCursor,
  startingProgress,
} from './copy-records.js';
import type { CopyProgress } from './migrate.js';
import type { MigratingStore } from './migrating.js';
import type { MigratingRecordStore } from './migrating-records.js';

/*
 * Draining moves what the old store of a migrating: store still holds, by
 * the same `move` the gateways make on access, so the two can run at once:
 * `copied` counts what the drain moved, `skipped` what a gateway had moved
 * or someone deleted first. Found in both stores, an item is either in the
 * middle of a gateway's move (created in new, its delete in old to come) or
 * left there by a move that failed between its two steps. Deleting the old
 * copy of the first kind would make that gateway take it for deleted and
 * undo its move, so the drain waits `settle` ms, longer than any request
 * takes, and then deletes the old copies still there: the second kind.
 */

export interface DrainOptions {
  batchSize?: number;
  clock?: () => number;
  /** How long a gateway's move can take at most, in ms; waited only when an item was in both stores. Default 30,000. */
  settle?: number;
}

const settled = (options: DrainOptions, pending: number) =>
  pending === 0 ? Promise.resolve() : delay(options.settle ?? 30_000);

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
    }
    const stillInOld = await Promise.all(
      page.sessions.map((session) => store.old.get(session.id, now)),
    );
    progress.verified += stillInOld.filter((session) => session === null).length;
    for (const session of stillInOld) if (session) leftInOld.push(session.id);
    progress.cursor = page.cursor;
    await options.onProgress?.({ ...progress });
  } while (progress.cursor !== null);
  await settled(options, leftInOld.length);
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
  const progress = startingProgress(options.cursor);
  const leftInOld: { collection: string; key: string; version: number }[] = [];
  await eachRecordPage(store.old, progress, options, async (collection, page, now) => {
    for (const record of page) {
      const { outcome } = await store.move(collection, record.key, now);
      if (outcome === 'moved') progress.copied++;
      else progress.skipped++;
    }
    const stillInOld = await Promise.all(
      page.map((record) => store.old.get(collection, record.key, now)),
    );
    progress.verified += stillInOld.filter((record) => record === null).length;
    for (const record of stillInOld) if (record) leftInOld.push({ collection, ...record });
  });
  await settled(options, leftInOld.length);
  for (const { collection, key, version } of leftInOld)
    if (await store.old.delete(collection, key, { ifVersion: version })) progress.verified++;
  return progress;
}
