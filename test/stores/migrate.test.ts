import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Pool } from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createCodec, SessionManager } from '../../src/core/index.js';
import { MemoryStore, openStore, SqliteStore } from '../../src/stores/index.js';
import { copySessions } from '../../src/stores/migrate.js';
import { dropKeys, REDIS_URL } from './fixtures/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'clawsession-migrate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let counter = 0;
const freshFile = () => join(dir, `${++counter}.db`);

describe('copySessions', () => {
  it('copies every live session, resumes from a cursor, and a repeat run refreshes only what changed', async () => {
    const codec = createCodec();
    const source = new SessionManager({ store: new MemoryStore({ codec }) });
    const target = new SqliteStore({ filename: freshFile(), codec });
    const issued = await Promise.all(
      Array.from({ length: 25 }, (_, n) => source.create({ userId: `u${n % 4}`, data: { n } })),
    );

    // Interrupted after the second batch, then resumed from the saved cursor.
    let saved: string | null = null;
    const interrupted = copySessions(source.store, target, {
      batchSize: 10,
      onProgress: (progress) => {
        saved = progress.cursor;
        if (progress.verified === 20) throw new Error('interrupted');
      },
    });
    await expect(interrupted).rejects.toThrow('interrupted');
    const resumed = await copySessions(source.store, target, { batchSize: 10, cursor: saved });
    expect(resumed).toMatchObject({ cursor: null, copied: 5, skipped: 0, verified: 5 });

    await source.patch(issued[3]?.token as string, [
      { op: 'replace', path: '/n', value: 'changed' },
    ]);
    const repeat = await copySessions(source.store, target, { batchSize: 10 });
    expect(repeat).toMatchObject({ copied: 0, skipped: 24, refreshed: 1, verified: 25 });

    const copied = new SessionManager({ store: target });
    for (const [n, { token, session }] of issued.entries()) {
      const found = await copied.get(token, { touch: false });
      expect(found?.userId).toBe(session.userId);
      expect(found?.data).toEqual({ n: n === 3 ? 'changed' : n });
    }
    await Promise.all([source.close(), copied.close()]);
  });
});

describe('clawsession migrate', () => {
  it('copies a SQLite store into another through the CLI, writing its progress to a state file', async () => {
    const from = freshFile();
    const to = freshFile();
    const manager = new SessionManager({ store: new SqliteStore({ filename: from }) });
    const issued = await Promise.all(
      Array.from({ length: 12 }, () => manager.create({ userId: 'u', data: { a: 1 } })),
    );
    await manager.close();
    const state = join(dir, 'migrate-state.json');
    const { stdout } = await promisify(execFile)(process.execPath, [
      resolve('dist/cli/main.js'),
      'migrate',
      '--from',
      `sqlite:${from}`,
      '--to',
      `sqlite:${to}`,
      '--batch-size',
      '5',
      '--state',
      state,
      '--json',
    ]);
    expect(JSON.parse(stdout)).toMatchObject({
      done: true,
      copied: 12,
      verified: 12,
      cursor: null,
    });
    expect(JSON.parse(readFileSync(state, 'utf8'))).toMatchObject({ cursor: null, verified: 12 });
    const copied = new SessionManager({ store: new SqliteStore({ filename: to }) });
    for (const { token } of issued) expect(await copied.get(token)).not.toBeNull();
    await copied.close();
  });

  it('moves the embedded SQLite store into Redis and PostgreSQL (tiered) through the CLI', async () => {
    const from = freshFile();
    const manager = new SessionManager({ store: new SqliteStore({ filename: from }) });
    const issued = await Promise.all(
      Array.from({ length: 30 }, (_, n) => manager.create({ userId: `u${n % 5}`, data: { n } })),
    );
    await manager.close();
    const run = randomBytes(4).toString('hex');
    const postgres =
      process.env.CLAWSESSION_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
    const target = `tiered:${REDIS_URL}?prefix=cs:test:migrate:${run}:|${postgres}?schema=clawsession_migrate_${run}`;
    try {
      const { stdout } = await promisify(execFile)(process.execPath, [
        resolve('dist/cli/main.js'),
        'migrate',
        '--from',
        `sqlite:${from}`,
        '--to',
        target,
        '--batch-size',
        '7',
        '--json',
      ]);
      expect(JSON.parse(stdout)).toMatchObject({ done: true, copied: 30, verified: 30 });
      const copied = new SessionManager({ store: await openStore(target) });
      for (const [n, { token }] of issued.entries())
        expect((await copied.get(token))?.data).toEqual({ n });
      expect(await copied.listForUser('u1')).toHaveLength(6);
      await copied.close();
    } finally {
      const admin = new Pool({ connectionString: postgres });
      await admin.query(`DROP SCHEMA IF EXISTS clawsession_migrate_${run} CASCADE`);
      await admin.end();
      await dropKeys(REDIS_URL, `cs:test:migrate:${run}:`);
    }
  });

  it('refuses a missing --to with exit code 2', async () => {
    const run = promisify(execFile)(process.execPath, [
      resolve('dist/cli/main.js'),
      'migrate',
      '--from',
      'memory:',
    ]);
    await expect(run).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--to') });
  });
});
