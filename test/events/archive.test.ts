import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { SessionManager } from '../../src/core/index.js';
import { gzipJsonlEventArchive, toCloudEvent } from '../../src/events/index.js';
import { MemoryStore } from '../../src/stores/index.js';

const dir = mkdtempSync(join(tmpdir(), 'clawsession-event-archive-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('gzipJsonlEventArchive', () => {
  it("appends each batch to the day's file as CloudEvents, without the replay payload", async () => {
    const store = new MemoryStore({ outbox: true });
    const manager = new SessionManager({ store, clock: () => Date.UTC(2026, 0, 2, 12) });
    const { token } = await manager.create({ userId: 'alice', data: { card: '4111-secret' } });
    await manager.patch(token, [{ op: 'replace', path: '/card', value: '5500-secret' }]);
    const records = (await store.outbox?.read(null, 10)) ?? [];
    expect(records.map((record) => Boolean(record.payload))).toEqual([true, true]);

    const directory = join(dir, 'events');
    const archive = gzipJsonlEventArchive({ directory, clock: () => Date.UTC(2026, 1, 3) });
    await archive(records.slice(0, 1));
    await archive(records.slice(1));
    await archive([]);

    expect(readdirSync(directory)).toEqual(['events-2026-02-03.jsonl.gz']);
    const text = gunzipSync(readFileSync(join(directory, 'events-2026-02-03.jsonl.gz'))).toString();
    const lines = text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toEqual(records.map(toCloudEvent));
    expect(text).not.toContain('secret');
    expect(text).not.toContain('payload');
    await manager.close();
  });
});
