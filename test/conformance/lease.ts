import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Lease } from '../../src/core/index.js';

/** Opens one more instance of the lease, as another process of the same deployment would; the suite closes it. */
export type LeaseFactory = () => Promise<Lease>;

/**
 * The one suite every Lease passes. Lease names are fresh per test, so the
 * instances may share whatever the backend keeps its leases in with anyone.
 */
export function describeLease(name: string, open: LeaseFactory): void {
  describe(`${name} conforms to the Lease contract`, () => {
    const opened: Lease[] = [];
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((lease) => lease.close()));
    });

    async function instance(): Promise<Lease> {
      const lease = await open();
      opened.push(lease);
      return lease;
    }

    const run = randomBytes(4).toString('hex');
    let counter = 0;
    const freshName = () => `conformance-${run}-${++counter}`;

    it('lets exactly one instance run the work at a time, and the next once it returns', async () => {
      const [a, b] = [await instance(), await instance()];
      const name = freshName();
      let release = () => {};
      let started = () => {};
      const running = new Promise<void>((resolve) => (started = resolve));
      const holding = a.run(name, () => {
        started();
        return new Promise<string>((resolve) => (release = () => resolve('a done')));
      });
      await running;
      expect(await b.run(name, async () => 'b ran')).toEqual({ acquired: false });
      release();
      expect(await holding).toEqual({ acquired: true, value: 'a done' });
      expect(await b.run(name, async () => 'b ran')).toEqual({ acquired: true, value: 'b ran' });
    });

    it('a lease of another name is free while one is held', async () => {
      const [a, b] = [await instance(), await instance()];
      const name = freshName();
      const other = freshName();
      expect(
        await a.run(name, async () => ({
          inside: await b.run(name, async () => 'same'),
          elsewhere: await b.run(other, async () => 'other'),
        })),
      ).toEqual({
        acquired: true,
        value: { inside: { acquired: false }, elsewhere: { acquired: true, value: 'other' } },
      });
    });

    it('of many instances trying one lease at once, exactly one runs the work', async () => {
      const instances = await Promise.all(Array.from({ length: 6 }, () => instance()));
      const name = freshName();
      let inside = 0;
      let refused = 0;
      let release = () => {};
      const released = new Promise<void>((resolve) => (release = resolve));
      const attempts = instances.map(async (lease) => {
        const outcome = await lease.run(name, async () => {
          inside++;
          await released;
        });
        if (!outcome.acquired) refused++;
        return outcome.acquired;
      });
      // Every attempt has either been refused or is holding the lease: none can still get in.
      await expect.poll(() => inside + refused, { timeout: 5_000 }).toBe(instances.length);
      release();
      expect((await Promise.all(attempts)).filter(Boolean)).toHaveLength(1);
      expect(inside).toBe(1);
    });

    it('work that throws passes its error on and frees the lease', async () => {
      const [a, b] = [await instance(), await instance()];
      const name = freshName();
      const failure = new Error('sweep failed');
      await expect(
        a.run(name, async () => {
          throw failure;
        }),
      ).rejects.toBe(failure);
      expect(await b.run(name, async () => 'b ran')).toEqual({ acquired: true, value: 'b ran' });
    });

    it('the work’s signal stays unaborted while its instance holds the lease', async () => {
      const lease = await instance();
      expect(await lease.run(freshName(), async (signal) => signal.aborted)).toEqual({
        acquired: true,
        value: false,
      });
    });

    it('closing an instance twice is harmless, and the lease stays free for the others', async () => {
      const [a, b] = [await instance(), await instance()];
      const name = freshName();
      expect((await a.run(name, async () => 'a ran')).acquired).toBe(true);
      await a.close();
      await a.close();
      expect(await b.run(name, async () => 'b ran')).toEqual({ acquired: true, value: 'b ran' });
    });
  });
}
