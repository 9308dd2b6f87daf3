import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { InvalidationBus } from '../../src/core/index.js';

/** Opens one more bus on `topic`, as another process of the same deployment would; the suite closes it. */
export type InvalidationBusFactory = (topic: string) => Promise<InvalidationBus>;

/**
 * The one suite every InvalidationBus passes. Topics are fresh per test
 * (lower-case letters, digits and `_`, as `sessions` and `keys` are), so the
 * buses may share a server with anyone.
 */
export function describeInvalidationBus(name: string, open: InvalidationBusFactory): void {
  describe(`${name} conforms to the InvalidationBus contract`, () => {
    const opened: InvalidationBus[] = [];
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((bus) => bus.close()));
    });

    async function bus(topic: string): Promise<InvalidationBus> {
      const connected = await open(topic);
      opened.push(connected);
      return connected;
    }

    /** Subscribes a bus of its own to `topic` and collects what arrives. */
    async function listening(topic: string): Promise<(string | null)[]> {
      const received: (string | null)[] = [];
      await (await bus(topic)).subscribe((id) => received.push(id));
      return received;
    }

    const run = randomBytes(4).toString('hex');
    let counter = 0;
    const freshTopic = () => `conformance_${run}_${++counter}`;

    it('carries a published id to every subscriber of the topic, and to no other topic', async () => {
      const topic = freshTopic();
      const other = freshTopic();
      const first = await listening(topic);
      const second = await listening(topic);
      const elsewhere = await listening(other);
      const publisher = await bus(topic);
      await publisher.publish('a'.repeat(64));
      await expect
        .poll(() => [first, second], { timeout: 5_000 })
        .toEqual([['a'.repeat(64)], ['a'.repeat(64)]]);
      const otherPublisher = await bus(other);
      await otherPublisher.publish('b');
      await expect.poll(() => elsewhere, { timeout: 5_000 }).toEqual(['b']);
      expect(first).toEqual(['a'.repeat(64)]);
    });

    it('a closed bus hears nothing more, and the others keep hearing', async () => {
      const topic = freshTopic();
      const closing = await bus(topic);
      const heardByClosed: (string | null)[] = [];
      await closing.subscribe((id) => heardByClosed.push(id));
      const staying = await listening(topic);
      const publisher = await bus(topic);
      await publisher.publish('before');
      await expect
        .poll(() => [heardByClosed, staying], { timeout: 5_000 })
        .toEqual([['before'], ['before']]);
      await closing.close();
      await publisher.publish('after');
      await expect.poll(() => staying, { timeout: 5_000 }).toEqual(['before', 'after']);
      expect(heardByClosed).toEqual(['before']);
    });
  });
}
