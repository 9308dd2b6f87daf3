import type { Outbox, OutboxRecord } from '../core/index.js';

/** Keeps outbox records somewhere before retention removes them (a file, cold storage). */
export type OutboxArchive = (records: readonly OutboxRecord[]) => Promise<void>;

export interface RetentionTarget {
  outbox: Outbox;
  /** Every sink's cursor; null for a sink that has nothing delivered. */
  cursors: readonly (string | null)[];
  /** Records made before this time (ms) may go. */
  before: number;
  batchSize: number;
  archive?: OutboxArchive;
}

/**
 * Removes the records made before `before` that every sink has delivered,
 * oldest first, handing each batch to `archive` before it is removed; how
 * many it removed. Cursors are opaque, so "delivered by every sink" is
 * counted: the outbox's first `total − largest backlog` records.
 */
export async function trimDelivered(target: RetentionTarget): Promise<number> {
  const { outbox } = target;
  if (target.cursors.includes(null)) return 0;
  const [all, ...backlogs] = await Promise.all([
    outbox.backlog(null),
    ...target.cursors.map((cursor) => outbox.backlog(cursor)),
  ]);
  let deliverable = all.count - Math.max(0, ...backlogs.map((backlog) => backlog.count));
  let removed = 0;
  while (deliverable > 0) {
    const page = await outbox.read(null, Math.min(deliverable, target.batchSize));
    const old = takeWhile(page, (record) => record.time < target.before);
    const last = old.at(-1);
    if (!last) break;
    await target.archive?.(old);
    const trimmed = await outbox.trim(last.time + 1, old.length);
    // An outbox that orders "oldest" by time may pick a record of the same time the read did not: keep it too.
    const archived = new Set(old.map((record) => record.id));
    const unarchived = trimmed.filter((record) => !archived.has(record.id));
    if (unarchived.length > 0) await target.archive?.(unarchived);
    removed += trimmed.length;
    deliverable -= trimmed.length;
    if (trimmed.length < old.length) break;
  }
  return removed;
}

function takeWhile<T>(items: readonly T[], keep: (item: T) => boolean): T[] {
  const end = items.findIndex((item) => !keep(item));
  return end === -1 ? [...items] : items.slice(0, end);
}
