import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createProgress } from '../../src/cli/progress.js';
import { SessionManager } from '../../src/core/index.js';
import { SqliteStore } from '../../src/stores/index.js';
import { cli } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'clawsession-cli-progress-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A stream that says it is a terminal (or not), and what was written to it. */
function stream(isTTY: boolean) {
  let text = '';
  const output = new Writable({
    write(chunk, _encoding, done) {
      text += chunk;
      done();
    },
  }) as Writable & { isTTY: boolean };
  output.isTTY = isTTY;
  return { output, text: () => text };
}

const ESC = String.fromCharCode(27);
/** What a terminal shows of a line: the text drawn after its last return to column 1. */
function shown(line: string): string {
  const drawn = line.split(`${ESC}[1G`).at(-1) ?? '';
  return drawn.replace(new RegExp(`${ESC}\\[[0-9;?]*[A-Za-z]`, 'g'), '');
}

describe('progress', () => {
  it('draws a bar with the count, the rate and the ETA on a terminal, and a count where the total is unknown', () => {
    const terminal = stream(true);
    let now = 0;
    const progress = createProgress(terminal.output, { clock: () => now });
    const sessions = progress.start('sessions', 100);
    now = 4_000;
    sessions.update(40, { cursor: 'abc' });
    const records = progress.start('records', null);
    now = 5_000;
    records.update(7);
    progress.stop();
    progress.stop();
    const lines = terminal.text().split('\n').map(shown);
    expect(lines).toEqual([
      expect.stringMatching(/^sessions \[={12}-{18}\] 40\/100 \| 10\/s \| ETA \S+$/),
      expect.stringMatching(/^records 7 \| 7\/s \| \d+s$/),
      '',
    ]);
    expect(terminal.text()).not.toContain('{');
  });

  it('writes one JSON line per update anywhere else, with the details given', () => {
    const pipe = stream(false);
    let now = 1_000;
    const progress = createProgress(pipe.output, { clock: () => now });
    const sessions = progress.start('sessions', 12);
    now = 1_500;
    sessions.update(5, { copied: 4, skipped: 1 });
    const records = progress.start('records', null);
    now = 3_000;
    records.update(3);
    progress.stop();
    expect(
      pipe
        .text()
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual([
      { kind: 'sessions', done: 5, total: 12, ratePerSecond: 10, copied: 4, skipped: 1 },
      { kind: 'records', done: 3, total: null, ratePerSecond: 2 },
    ]);
  });
});

describe('clawsession migrate, not on a terminal', () => {
  it('prints a JSON line with the counts after each batch, and its result as text', async () => {
    const from = join(dir, 'from.db');
    const to = join(dir, 'to.db');
    const manager = new SessionManager({ store: new SqliteStore({ filename: from }) });
    for (let n = 0; n < 12; n++) await manager.create({ userId: `u${n % 3}` });
    await manager.close();

    const run = await cli([
      'migrate',
      '--from',
      `sqlite:${from}`,
      '--to',
      `sqlite:${to}`,
      '--batch-size',
      '5',
    ]);
    expect(run.code).toBe(0);
    const lines = run.stderr
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toEqual([
      ...[5, 10, 12].map((done) => ({
        kind: 'sessions',
        done,
        total: 12,
        ratePerSecond: expect.any(Number),
        cursor: done === 12 ? null : expect.any(String),
        copied: done,
        skipped: 0,
        refreshed: 0,
        verified: done,
      })),
      {
        kind: 'records',
        done: 0,
        total: 0,
        ratePerSecond: 0,
        cursor: null,
        copied: 0,
        skipped: 0,
        refreshed: 0,
        verified: 0,
        collections: { users: 0, 'api-keys': 0, 'refresh-families': 0, 'revoked-jti': 0 },
      },
    ]);
    expect(run.stdout).toBe(
      `Copied 12 live sessions and 0 records from sqlite:${from} to sqlite:${to} and read each back: sessions 12 new, 0 replacing an older copy, 0 already there; records 0 new, 0 replaced, 0 already there.\n`,
    );
  });
});
