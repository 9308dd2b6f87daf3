import type { Outbox, OutboxRecord } from '../core/index.js';
import type { DeliveredUpTo } from './delivery-log.js';
import { EventNotFoundError } from './errors.js';

const PAGE = 1_000;

/** Where a redelivery starts: an event id, or a time (ms since the epoch) to take the first record at or after. */
export type RedeliverFrom = string | number;

/**
 * The cursor that makes a sink get again every record from `from` on: the
 * record just before the first that matches, or null when that is the
 * outbox's first. A redelivery only moves a cursor back: `unchanged` when
 * the sink has not been given that record yet (its cursor is already before
 * it), or when no record is at or after the time. Throws EventNotFoundError
 * for an id the outbox does not hold.
 */
export async function cursorBefore(
  outbox: Outbox,
  from: RedeliverFrom,
  current: string | null,
  at: number,
): Promise<DeliveredUpTo | null | 'unchanged'> {
  let cursorPassed = current === null || (await isTrimmed(outbox, current));
  let previous: OutboxRecord | null = null;
  let after: string | null = null;
  for (;;) {
    const page = await outbox.read(after, PAGE);
    for (const record of page) {
      const matches = typeof from === 'string' ? record.id === from : record.time >= from;
      if (matches) {
        if (cursorPassed) return 'unchanged';
        return previous && upTo(previous, at);
      }
      if (record.position === current) cursorPassed = true;
      previous = record;
    }
    const last = page.at(-1);
    if (!last) break;
    after = last.position;
  }
  if (typeof from === 'string') throw new EventNotFoundError(from);
  return 'unchanged';
}

export function upTo(record: OutboxRecord, at: number): DeliveredUpTo {
  return { position: record.position, eventId: record.id, eventTime: record.time, at };
}

/** A cursor whose record retention removed: every record left follows it. */
async function isTrimmed(outbox: Outbox, position: string): Promise<boolean> {
  const [all, following] = await Promise.all([outbox.backlog(null), outbox.backlog(position)]);
  return following.count === all.count;
}
