import { describe, expect, it } from 'vitest';
import { newEventId, type OutboxEvent } from '../../src/core/index.js';
import { MemoryStore, openBackend } from '../../src/stores/index.js';
import { describeOutbox } from '../conformance/outbox.js';

describeOutbox('memory', async ({ instance }) => new MemoryStore({ outbox: { instance } }));

const event = (time: number): OutboxEvent => ({
  id: newEventId(),
  type: 'login.failed',
  time,
  sessionId: null,
  userId: 'u',
  sequence: 0,
  instance: 'test',
  data: {},
});

describe('MemoryStore outbox', () => {
  it('has none unless opened with one', async () => {
    expect(new MemoryStore().outbox).toBeUndefined();
    const store = await openBackend('memory:').openSessions({ outbox: true });
    expect(store.outbox).toBeDefined();
    await store.close();
  });

  it('drops the oldest records when full, counts them, and keeps positions going', async () => {
    const store = new MemoryStore({ outbox: { max: 3 } });
    const outbox = store.outbox as NonNullable<typeof store.outbox>;
    await outbox.append([1, 2, 3, 4, 5].map(event));
    expect(outbox.dropped).toBe(2);
    const held = await outbox.read(null, 10);
    expect(held.map((r) => [r.position, r.time])).toEqual([
      ['3', 3],
      ['4', 4],
      ['5', 5],
    ]);
    expect(await outbox.backlog(null)).toEqual({ count: 3, oldestTime: 3 });
    // Past the first compaction of its list, the bound and the order still hold.
    for (let i = 6; i <= 3000; i++) await outbox.append([event(i)]);
    expect(outbox.dropped).toBe(2997);
    expect((await outbox.read('2997', 10)).map((r) => r.position)).toEqual([
      '2998',
      '2999',
      '3000',
    ]);
    expect(await outbox.read('1', 1)).toEqual(await outbox.read(null, 1));
  });

  it('refuses a bound that is not a positive integer', () => {
    expect(() => new MemoryStore({ outbox: { max: 0 } })).toThrow(RangeError);
  });

  it('hands out copies: changing a record read does not change the outbox', async () => {
    const store = new MemoryStore({ outbox: true });
    const outbox = store.outbox as NonNullable<typeof store.outbox>;
    await outbox.append([{ ...event(1), data: { nested: { a: 1 } } }]);
    const [record] = await outbox.read(null, 1);
    (record?.data.nested as { a: number }).a = 2;
    expect((await outbox.read(null, 1))[0]?.data).toEqual({ nested: { a: 1 } });
  });
});
