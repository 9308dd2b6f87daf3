import {
  newEventId,
  type Outbox,
  type OutboxEvent,
  type OutboxRecord,
} from '../../src/core/index.js';

/**
 * The Outbox contract over an array, for relay tests while the stores'
 * outboxes are written: positions count up from 1 (zero-padded), trimmed
 * records leave their positions unused. `failing` makes every call throw, as
 * a store that is down would.
 */
export class ArrayOutbox implements Outbox {
  readonly records: OutboxRecord[] = [];
  failing = false;
  #next = 1;

  async append(events: readonly OutboxEvent[]): Promise<void> {
    this.#check();
    for (const event of events)
      this.records.push({ ...event, position: String(this.#next++).padStart(12, '0') });
  }

  async read(after: string | null, limit: number): Promise<OutboxRecord[]> {
    this.#check();
    return this.#after(after).slice(0, limit);
  }

  async backlog(after: string | null): Promise<{ count: number; oldestTime: number | null }> {
    this.#check();
    const following = this.#after(after);
    return { count: following.length, oldestTime: following[0]?.time ?? null };
  }

  async trim(before: number, limit: number): Promise<OutboxRecord[]> {
    this.#check();
    let end = 0;
    while (end < this.records.length && end < limit && (this.records[end]?.time ?? 0) < before)
      end++;
    return this.records.splice(0, end);
  }

  #after(position: string | null): OutboxRecord[] {
    return position === null
      ? [...this.records]
      : this.records.filter((record) => record.position > position);
  }

  #check(): void {
    if (this.failing) throw new Error('the outbox is unavailable');
  }
}

/** A `session.updated` event of `sessionId` at `sequence`, made at `time`. */
export function updatedEventOf(
  sessionId: string,
  sequence: number,
  time = Date.now(),
): OutboxEvent {
  return {
    id: newEventId(),
    type: 'session.updated',
    time,
    sessionId,
    userId: 'alice',
    sequence,
    instance: 'test:1',
    data: { version: sequence, paths: ['/cart/-'] },
  };
}
