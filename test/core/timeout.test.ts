import { describe, expect, it } from 'vitest';
import { Deadline } from '../../src/core/index.js';

class TimedOut extends Error {}

const never = () => new Promise<never>(() => {});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Deadline', () => {
  it('fails a wait that outlasts the limit with its error, within the last tenth of the limit', async () => {
    const deadline = new Deadline(200);
    const started = performance.now();
    await expect(deadline.bound(never, () => new TimedOut())).rejects.toBeInstanceOf(TimedOut);
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(179);
    expect(waited).toBeLessThan(1_000);
  });

  it('hands out no signal while waits end in time', async () => {
    const deadline = new Deadline(100);
    const signals: (AbortSignal | undefined)[] = [];
    for (let i = 0; i < 3; i++) {
      await deadline.bound(
        async (signal) => signals.push(signal),
        () => new TimedOut(),
      );
      await sleep(60);
    }
    expect(signals).toEqual([undefined, undefined, undefined]);
  });

  it('once a wait has timed out, hands out a signal that aborts when its wait times out, until waits end in time again', async () => {
    const deadline = new Deadline(100);
    await expect(deadline.bound(never, () => new TimedOut())).rejects.toBeInstanceOf(TimedOut);
    let signal: AbortSignal | undefined;
    const waiting = deadline.bound(
      (given) => {
        signal = given;
        return never();
      },
      () => new TimedOut(),
    );
    expect(signal?.aborted).toBe(false);
    await expect(waiting).rejects.toBeInstanceOf(TimedOut);
    expect(signal?.aborted).toBe(true);

    await deadline.bound(
      async () => 'in time',
      () => new TimedOut(),
    );
    await sleep(150); // that wait's slice ends with nothing timed out
    let after: AbortSignal | undefined;
    await deadline.bound(
      async (given) => {
        after = given;
      },
      () => new TimedOut(),
    );
    expect(after).toBeUndefined();
  });

  it('passes through what settles in time, value or error', async () => {
    const deadline = new Deadline(1_000);
    const failure = new Error('refused');
    expect(
      await deadline.bound(
        async () => 'answer',
        () => new TimedOut(),
      ),
    ).toBe('answer');
    await expect(
      deadline.bound(
        () => Promise.reject(failure),
        () => new TimedOut(),
      ),
    ).rejects.toBe(failure);
  });

  it('times out only the waits still pending among those that began together', async () => {
    const deadline = new Deadline(150);
    const quick = deadline.bound(
      () => sleep(10).then(() => 'quick'),
      () => new TimedOut(),
    );
    const stuck = deadline.bound(never, () => new TimedOut());
    expect(await quick).toBe('quick');
    await expect(stuck).rejects.toBeInstanceOf(TimedOut);
  });

  it('gives a wait that begins late in a busy stream at least nine tenths of the limit', async () => {
    const deadline = new Deadline(200);
    const outcomes: Promise<number>[] = [];
    const started = performance.now();
    while (performance.now() - started < 150) {
      const began = performance.now();
      outcomes.push(
        deadline.bound(never, () => new TimedOut()).catch(() => performance.now() - began),
      );
      await sleep(5);
    }
    const waits = await Promise.all(outcomes);
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(179);
    expect(Math.max(...waits)).toBeLessThan(1_000);
  });
});
