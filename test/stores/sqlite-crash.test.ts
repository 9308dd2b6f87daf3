import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/stores/index.js';

const dir = mkdtempSync(join(tmpdir(), 'clawsession-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SqliteStore crash safety', () => {
  it('a process killed with SIGKILL mid-write leaves a sound database holding every acknowledged write', async () => {
    const filename = join(dir, 'crash.db');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/stores/fixtures/sqlite-writer.ts', filename],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const acked: { id: string; version: number }[] = [];
    let sessionId = '';
    let buffered = '';
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code, signal) =>
        signal === 'SIGKILL' ? resolve() : reject(new Error(`writer exited ${code}`)),
      );
      child.stdout.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) {
          const [kind, id, version] = line.split(' ');
          if (kind === 'session') sessionId = id as string;
          if (kind === 'ack') acked.push({ id: id as string, version: Number(version) });
        }
        if (acked.length >= 1500 && child.exitCode === null) child.kill('SIGKILL');
      });
    });
    expect(acked.length).toBeGreaterThanOrEqual(1500);

    const db = new Database(filename);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    const stored = new Set(
      (db.prepare('SELECT id FROM sessions').all() as { id: string }[]).map((row) => row.id),
    );
    const version = (
      db.prepare('SELECT version FROM sessions WHERE id = ?').get(sessionId) as { version: number }
    ).version;
    db.close();
    const missing = acked.filter((ack) => !stored.has(ack.id));
    expect(missing).toEqual([]);
    expect(version).toBeGreaterThanOrEqual(acked.at(-1)?.version ?? Number.POSITIVE_INFINITY);

    // And the store itself opens it again and serves it.
    const reopened = new SqliteStore({ filename });
    expect((await reopened.get(sessionId, Date.now()))?.version).toBe(version);
    await reopened.close();
  });
});
