import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { SessionManager } from '../../src/core/index.js';
import { gzipJsonlArchive } from '../../src/stores/archive.js';
import { MemoryStore } from '../../src/stores/index.js';

const dir = mkdtempSync(join(tmpdir(), 'clawsession-archive-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('gzip JSONL archive', () => {
  it('appends each swept batch to the day’s file as readable gzip JSON lines', async () => {
    const clock = { now: Date.UTC(2026, 10, 24, 12) };
    const manager = new SessionManager({
      store: new MemoryStore(),
      clock: () => clock.now,
      idleTimeout: 60_000,
    });
    const created = await Promise.all(
      [1, 2, 3, 4, 5].map((n) =>
        manager.create({ userId: `u${n}`, data: { n, at: new Date(0) }, ip: '192.0.2.1' }),
      ),
    );
    clock.now += 61_000;
    const archive = gzipJsonlArchive({ directory: join(dir, 'cold'), clock: () => clock.now });
    expect(await manager.sweepExpired({ batchSize: 2, archive })).toBe(5);

    expect(readdirSync(join(dir, 'cold'))).toEqual(['sessions-2026-11-24.jsonl.gz']);
    const lines = gunzipSync(readFileSync(join(dir, 'cold', 'sessions-2026-11-24.jsonl.gz')))
      .toString('utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toHaveLength(5);
    expect(lines.map((line) => line.id).sort()).toEqual(created.map((c) => c.session.id).sort());
    expect(lines[0]).toMatchObject({
      ip: '192.0.2.1',
      version: 1,
      createdAt: '2026-11-24T12:00:00.000Z',
      archivedAt: '2026-11-24T12:01:01.000Z',
      data: { at: '1970-01-01T00:00:00.000Z' },
    });
    await manager.close();
  });
});
