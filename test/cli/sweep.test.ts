import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SessionManager } from '../../src/core/index.js';
import { openStore, RedisLease, SqliteRecordStore, SqliteStore } from '../../src/stores/index.js';
import { dropKeys, freshPrefix, REDIS_URL } from '../stores/fixtures/redis.js';
import { runInProcess } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'clawsession-cli-sweep-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const DAY = 24 * 60 * 60_000;

/** `clawsession …` in process, its stderr not a terminal: stdout, and the progress lines of stderr. */
async function run(args: string[]) {
  const { stdout, stderr } = await runInProcess(args);
  const progress = stderr
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
  return { stdout, progress };
}

describe('clawsession sweep', () => {
  it('removes expired sessions and records in batches, reporting each, and keeps the live ones', async () => {
    const filename = join(dir, 'sweep.db');
    // Sessions created two days ago outlived both timeouts: expired by the real clock, no waiting.
    const past = Date.now() - 2 * DAY;
    const old = new SessionManager({ store: new SqliteStore({ filename }), clock: () => past });
    for (let n = 0; n < 7; n++) await old.create({ userId: `old${n}` });
    await old.close();
    const current = new SessionManager({ store: new SqliteStore({ filename }) });
    const live = [await current.create({ userId: 'a' }), await current.create({ userId: 'b' })];
    await current.close();
    const records = new SqliteRecordStore({ filename });
    for (const key of ['r1', 'r2', 'r3'])
      await records.put('test', key, 'gone', { now: past, expiresAt: past + 1_000 });
    await records.put('test', 'kept', 'here', { now: Date.now() });
    await records.close();

    const first = await run(['sweep', '--store', `sqlite:${filename}`, '--batch-size', '2']);
    expect(first.progress.map(({ kind, done, total }) => ({ kind, done, total }))).toEqual([
      ...[2, 4, 6, 7].map((done) => ({ kind: 'sessions', done, total: null })),
      ...[2, 3].map((done) => ({ kind: 'records', done, total: null })),
    ]);
    expect(first.stdout).toBe(
      `Swept 7 expired sessions and 3 expired records from sqlite:${filename}.\n`,
    );

    const again = await run(['sweep', '--store', `sqlite:${filename}`, '--json']);
    expect(JSON.parse(again.stdout)).toEqual({ swept: true, sessions: 0, records: 0 });
    const after = new SessionManager({ store: await openStore(`sqlite:${filename}`) });
    for (const { token } of live) expect(await after.get(token)).not.toBeNull();
    await after.close();
    const kept = new SqliteRecordStore({ filename });
    expect(await kept.get('test', 'kept', Date.now())).toMatchObject({ value: 'here' });
    await kept.close();
  });

  it('does nothing while another process holds the sweep lease, and says so', async () => {
    const prefix = freshPrefix();
    const store = `${REDIS_URL}?prefix=${prefix}`;
    const lease = await RedisLease.connect({ url: REDIS_URL, prefix: `${prefix}lease:` });
    const held = await holdSweepLease(lease);
    try {
      const refused = await run(['sweep', '--store', store]);
      expect(refused.stdout).toBe(
        `Another process (a gateway) is sweeping ${store} now; nothing was swept.\n`,
      );
      expect(refused.progress).toEqual([]);
      expect(JSON.parse((await run(['sweep', '--store', store, '--json'])).stdout)).toEqual({
        swept: false,
        reason: 'another process holds the sweep lease',
      });
    } finally {
      await held.release();
      await lease.close();
      await dropKeys(REDIS_URL, prefix);
    }
  });
});

/** Takes the sweep lease of the store's prefix, as a gateway on that store would, and keeps it. */
async function holdSweepLease(lease: RedisLease): Promise<{ release(): Promise<void> }> {
  let release = () => {};
  const kept = new Promise<void>((resolve) => {
    release = resolve;
  });
  let taken = () => {};
  const holding = new Promise<void>((resolve) => {
    taken = resolve;
  });
  const outcome = lease.run('sweep', async () => {
    taken();
    await kept;
  });
  await holding;
  return {
    async release() {
      release();
      expect(await outcome).toEqual({ acquired: true, value: undefined });
    },
  };
}
