import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Activity, type SessionEvents, SessionManager } from '../../src/core/index.js';
import { MemoryStore } from '../../src/stores/index.js';

const MINUTE = 60_000;

/** A MemoryStore whose touch always fails, as a store that lost its connection would. */
class FailingTouchStore extends MemoryStore {
  readonly failure = new Error('touch failed');

  override async touch(_id: string, _activity: Activity): Promise<boolean> {
    throw this.failure;
  }
}

function setup(store = new MemoryStore()) {
  const clock = { now: Date.UTC(2026, 0, 1) };
  const manager = new SessionManager({ store, clock: () => clock.now, idleTimeout: 30 * MINUTE });
  return { manager, store, clock };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('session events', () => {
  it('a throwing listener does not fail the create that emitted the event', async () => {
    const { manager } = setup();
    const boom = new Error('listener bug');
    manager.on('created', () => {
      throw boom;
    });
    const errors: unknown[] = [];
    manager.on('error', (event) => errors.push(event.error));
    const { token, session } = await manager.create({ userId: 'u', data: { a: 1 } });
    expect(errors).toEqual([boom]);
    expect(await manager.get(token)).toEqual(session);
  });

  it('a throwing listener does not fail the patch, and the change is kept', async () => {
    const { manager } = setup();
    const { token } = await manager.create({ userId: 'u', data: { n: 1 } });
    manager.on('updated', () => {
      throw new Error('listener bug');
    });
    const errors: unknown[] = [];
    manager.on('error', (event) => errors.push(event.error));
    const patched = await manager.patch(token, [{ op: 'increment', path: '/n', value: 1 }]);
    expect(patched.data).toEqual({ n: 2 });
    expect(errors).toHaveLength(1);
    expect((await manager.get(token))?.data).toEqual({ n: 2 });
  });

  it('listeners after a throwing one still run', async () => {
    const { manager } = setup();
    const calls: string[] = [];
    manager.on('error', () => calls.push('error'));
    manager.on('revoked', () => {
      calls.push('first');
      throw new Error('listener bug');
    });
    manager.on('revoked', () => calls.push('second'));
    const { token } = await manager.create({ userId: 'u' });
    expect(await manager.revoke(token)).toBe(true);
    expect(calls).toEqual(['first', 'error', 'second']);
  });

  it('on returns a function that unsubscribes just that listener', async () => {
    const { manager } = setup();
    const kept: string[] = [];
    const dropped: string[] = [];
    manager.on('created', (event) => kept.push(event.session.userId));
    const unsubscribe = manager.on('created', (event) => dropped.push(event.session.userId));
    await manager.create({ userId: 'first' });
    unsubscribe();
    unsubscribe(); // a second call is harmless
    await manager.create({ userId: 'second' });
    expect(kept).toEqual(['first', 'second']);
    expect(dropped).toEqual(['first']);
  });

  it('off removes a listener as well', async () => {
    const { manager } = setup();
    const seen: number[] = [];
    const listener = (event: SessionEvents['updated']) => seen.push(event.previousVersion);
    manager.on('updated', listener);
    const { token } = await manager.create({ userId: 'u' });
    await manager.patch(token, [{ op: 'add', path: '/a', value: 1 }]);
    manager.off('updated', listener);
    await manager.patch(token, [{ op: 'add', path: '/b', value: 1 }]);
    expect(seen).toEqual([1]);
  });

  it('hands listeners the session the caller gets back', async () => {
    const { manager } = setup();
    const created: SessionEvents['created'][] = [];
    const updated: SessionEvents['updated'][] = [];
    manager.on('created', (event) => created.push(event));
    manager.on('updated', (event) => updated.push(event));
    const issued = await manager.create({ userId: 'u' });
    const patched = await manager.patch(issued.token, [{ op: 'add', path: '/x', value: 1 }]);
    expect(created).toEqual([{ session: issued.session }]);
    expect(updated).toEqual([{ session: patched, previousVersion: 1 }]);
  });

  it('emits nothing for a write that failed', async () => {
    const { manager } = setup();
    const events: string[] = [];
    for (const name of ['created', 'updated', 'regenerated', 'revoked'] as const) {
      manager.on(name, () => events.push(name));
    }
    await expect(manager.create({ userId: '' })).rejects.toThrow();
    const { token } = await manager.create({ userId: 'u' });
    events.length = 0;
    await expect(manager.patch(token, [{ op: 'remove', path: '/missing' }])).rejects.toThrow();
    expect(await manager.revoke({ id: 'f'.repeat(64) })).toBe(false);
    expect(events).toEqual([]);
  });

  it('a throwing error listener becomes a process warning, not an exception', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const { manager } = setup();
    manager.on('created', () => {
      throw new Error('first bug');
    });
    manager.on('error', () => {
      throw new Error('second bug');
    });
    await expect(manager.create({ userId: 'u' })).resolves.toBeDefined();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toContain('second bug');
  });

  it('an error with no error listener becomes a process warning', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const { manager, clock } = setup(new FailingTouchStore());
    const { token } = await manager.create({ userId: 'u' });
    clock.now += 10 * MINUTE;
    expect(await manager.get(token)).not.toBeNull();
    await manager.settle();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toContain('touch failed');
  });
});
