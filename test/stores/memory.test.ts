import { describe, expect, it } from 'vitest';
import { createCodec, SessionManager } from '../../src/core/index.js';
import { MemoryStore, openBackend } from '../../src/stores/index.js';
import { describeBackend } from '../conformance/backend.js';

describeBackend('memory', () => openBackend('memory:'));

describe('MemoryStore', () => {
  it('evicts the least recently used session beyond its bound, and its user index with it', async () => {
    const store = new MemoryStore({ max: 2, codec: createCodec() });
    const manager = new SessionManager({ store });
    const first = await manager.create({ userId: 'u' });
    const second = await manager.create({ userId: 'u' });
    await manager.get(first.token); // first is now the most recently used
    const third = await manager.create({ userId: 'u' });
    expect(await manager.get(second.token)).toBeNull();
    expect(await manager.get(first.token)).not.toBeNull();
    expect((await manager.listForUser('u')).map((s) => s.id).sort()).toEqual(
      [first.session.id, third.session.id].sort(),
    );
    expect(await store.deleteByUser('u')).toHaveLength(2);
  });
});
