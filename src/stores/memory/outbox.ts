import {
  assertLimit,
  assertOutboxQuery,
  assertPosition,
  assertServiceEvents,
  assertTrim,
} from '../../core/backend-kit.js';
import type {
  Outbox,
  OutboxEvent,
  OutboxOptions,
  OutboxPage,
  OutboxQuery,
  OutboxRecord,
} from '../../core/index.js';

export interface MemoryOutboxOptions extends OutboxOptions {
  /**
   * Most records kept. When it is full the oldest records are dropped to make
   * room, and counted in `MemoryOutbox.dropped`. Default 100,000.
   */
  max?: number;
}

interface Held {
  /** The position as a number, for the binary search. */
  at: number;
  record: OutboxRecord;
}

/**
 * The memory store's outbox: an in-process list in position order. It is
 * bounded, since nothing outside the process drains it when no relay runs:
 * past `max` the oldest records go, unrelayed, and `dropped` counts them.
 */
export class MemoryOutbox implements Outbox {
  readonly #max: number;
  /** Held records from index `#start` on; the ones before it were dropped. */
  #held: Held[] = [];
  #start = 0;
  #next = 1;
  #dropped = 0;

  constructor(options: MemoryOutboxOptions = {}) {
    const max = options.max ?? 100_000;
    if (!(Number.isSafeInteger(max) && max > 0))
      throw new RangeError('the memory outbox max must be a positive integer');
    this.#max = max;
  }

  /** Records dropped unrelayed because the outbox was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Keeps `events` in order; the store calls it in the synchronous section of its change. */
  record(events: readonly OutboxEvent[]): void {
    for (const event of events) {
      const at = this.#next++;
      this.#held.push({ at, record: { ...event, position: String(at) } });
    }
    const overflow = this.#held.length - this.#start - this.#max;
    if (overflow > 0) {
      this.#start += overflow;
      this.#dropped += overflow;
    }
    // Dropping moves a start index; the list is cut only now and then, so a drop costs O(1) on average.
    if (this.#start > 1024 && this.#start * 2 > this.#held.length) {
      this.#held = this.#held.slice(this.#start);
      this.#start = 0;
    }
  }

  async append(events: readonly OutboxEvent[]): Promise<void> {
    assertServiceEvents(events);
    this.record(events);
  }

  async read(after: string | null, limit: number): Promise<OutboxRecord[]> {
    assertPosition(after);
    assertLimit(limit);
    const from = this.#indexAfter(after);
    return this.#held.slice(from, from + limit).map(({ record }) => copy(record));
  }

  async backlog(after: string | null): Promise<{ count: number; oldestTime: number | null }> {
    assertPosition(after);
    const from = this.#indexAfter(after);
    return { count: this.#held.length - from, oldestTime: this.#held[from]?.record.time ?? null };
  }

  async trim(before: number, limit: number): Promise<OutboxRecord[]> {
    assertTrim(before, limit);
    const removed = new Set<Held>();
    for (let i = this.#start; i < this.#held.length && removed.size < limit; i++) {
      const held = this.#held[i] as Held;
      if (held.record.time < before) removed.add(held);
    }
    if (removed.size > 0) {
      this.#held = this.#held.slice(this.#start).filter((held) => !removed.has(held));
      this.#start = 0;
    }
    return [...removed].map(({ record }) => record);
  }

  /** A walk from `after` on: memory keeps no index, and holds at most `max` records. */
  async query(filter: OutboxQuery): Promise<OutboxPage> {
    assertOutboxQuery(filter);
    const { userId, sessionId, types, since, until, limit } = filter;
    const records: OutboxRecord[] = [];
    for (let i = this.#indexAfter(filter.after ?? null); i < this.#held.length; i++) {
      const { record } = this.#held[i] as Held;
      if (userId !== undefined && record.userId !== userId) continue;
      if (sessionId !== undefined && record.sessionId !== sessionId) continue;
      if (types !== undefined && !types.includes(record.type)) continue;
      if (since !== undefined && record.time < since) continue;
      if (until !== undefined && record.time >= until) continue;
      if (records.length === limit)
        return { records, cursor: (records.at(-1) as OutboxRecord).position };
      records.push(copy(record));
    }
    return { records, cursor: null };
  }

  /** The index of the first held record after `after`, by binary search. */
  #indexAfter(after: string | null): number {
    const position = after === null ? 0 : Number(after);
    let low = this.#start;
    let high = this.#held.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.#held[middle] as Held).at <= position) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

/** A record the caller may change without changing the outbox. */
function copy(record: OutboxRecord): OutboxRecord {
  return { ...record, data: structuredClone(record.data) };
}
