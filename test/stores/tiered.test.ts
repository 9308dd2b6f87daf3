import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createCodec, SessionManager } from '../../src/core/index.js';
import { MemoryStore, SqliteStore } from '../../src/stores/index.js';
import { TieredStore } from '../../src/stores/tiered.js';
import { describeSessionStore } from '../conformance/session-store.js';

const dir = mkdtempSync(join(tmpdir(), 'clawsession-tiered-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const freshFile = () => join(dir, `${++counter}.db`);

describeSessionStore(
  'TieredStore(memory, SQLite)',
  async ({ codec }) =>
    new TieredStore(new MemoryStore({ codec }), new SqliteStore({ filename: freshFile(), codec })),
);

describeSessionStore(
  'TieredStore(memory, SQLite) with write-behind touches',
  async ({ codec }) =>
    new TieredStore(new MemoryStore({ codec }), new SqliteStore({ filename: freshFile(), codec }), {
      touchWriteBehind: { interval: 50 },
    }),
);

describe('TieredStore', () => {
  it('refills the hot tier from the durable one after the hot tier loses everything', async () => {
    const codec = createCodec();
    const hot = new MemoryStore({ codec });
    const durable = new SqliteStore({ filename: freshFile(), codec });
    const manager = new SessionManager({ store: new TieredStore(hot, durable) });
    const { token, session } = await manager.create({ userId: 'u', data: { cart: ['a'] } });
    expect(await hot.get(session.id, Date.now())).not.toBeNull();
    await hot.delete(session.id); // as if the hot tier restarted empty
    expect((await manager.get(token))?.data).toEqual({ cart: ['a'] });
    expect(await hot.get(session.id, Date.now())).not.toBeNull();
    await manager.close();
  });

  it('a write drops the hot copy, so the next read sees the new version', async () => {
    const codec = createCodec();
    const hot = new MemoryStore({ codec });
    const manager = new SessionManager({
      store: new TieredStore(hot, new SqliteStore({ filename: freshFile(), codec })),
    });
    const { token, session } = await manager.create({ userId: 'u', data: { n: 1 } });
    await manager.patch(token, [{ op: 'replace', path: '/n', value: 2 }]);
    expect(await hot.get(session.id, Date.now())).toBeNull();
    expect((await manager.get(token))?.data).toEqual({ n: 2 });
    await manager.revoke(token);
    expect(await hot.get(session.id, Date.now())).toBeNull();
    expect(await manager.get(token)).toBeNull();
    await manager.close();
  });

  it('write-behind touches reach the durable tier by the next flush', async () => {
    const codec = createCodec();
    const durable = new SqliteStore({ filename: freshFile(), codec });
    const store = new TieredStore(new MemoryStore({ codec }), durable, {
      touchWriteBehind: { interval: 60_000 },
    });
    const clock = { now: Date.UTC(2026, 0, 1) };
    const manager = new SessionManager({ store, clock: () => clock.now, touchThreshold: 0 });
    const { session } = await manager.create({ userId: 'u' });
    clock.now += 10 * 60_000;
    expect(await manager.touch({ id: session.id })).toBe(true);
    expect((await durable.get(session.id, clock.now))?.idleExpiresAt).toBe(session.idleExpiresAt);
    await store.flushTouches();
    expect((await durable.get(session.id, clock.now))?.idleExpiresAt).toBe(clock.now + 30 * 60_000);
    await manager.close();
  });
});
