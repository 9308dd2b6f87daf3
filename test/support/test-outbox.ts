import { newEventId, type OutboxEvent, type OutboxRecord } from '../../src/core/index.js';
import { MemoryOutbox } from '../../src/stores/memory/index.js';

/**
 * The memory store's outbox as the relay tests drive it: events appended as
 * a store records them (session events included), every record held kept in
 * `records` for the assertions, and `failing` to make each call throw, as a
 * store that is down would.
 */
export class TestOutbox extends MemoryOutbox {
  readonly records: OutboxRecord[] = [];
  failing = false;

  override async append(events: readonly OutboxEvent[]): Promise<void> {
    this.#check();
    this.record(events);
    this.records.push(...(await super.read(this.records.at(-1)?.position ?? null, events.length)));
  }

  override async read(after: string | null, limit: number): Promise<OutboxRecord[]> {
    this.#check();
    return super.read(after, limit);
  }

  override async backlog(after: string | null) {
    this.#check();
    return super.backlog(after);
  }

  override async trim(before: number, limit: number): Promise<OutboxRecord[]> {
    this.#check();
    const removed = await super.trim(before, limit);
    const gone = new Set(removed.map((record) => record.id));
    this.records.splice(0, this.records.length, ...this.records.filter((r) => !gone.has(r.id)));
    return removed;
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
