import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createClient } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisStreamsSink, toCloudEvent } from '../../src/events/index.js';
import { updatedEventOf } from '../support/test-outbox.js';

// The consumer example of docs/events.md, run as written (its import pointed at the source), so it stays true.
const REDIS_URL = process.env.CLAWSESSION_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const doc = readFileSync('docs/events.md', 'utf8');
const consuming = doc.slice(doc.indexOf('## Consuming events'));
const example = /```ts\n([\s\S]*?)```/.exec(consuming)?.[1] as string;
mkdirSync('node_modules/.cache', { recursive: true });
const dir = mkdtempSync(join(resolve('node_modules/.cache'), 'clawsession-events-doc-'));
const stream = `cs:test:events-doc:${randomBytes(4).toString('hex')}`;
let child: ChildProcess | undefined;
afterAll(async () => {
  child?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  const raw = await createClient({ url: REDIS_URL }).connect();
  await raw.unlink(stream);
  await raw.close();
});

describe('the consumer example of docs/events.md', () => {
  it('handles the chosen types once each, skips a repeat, and stops at SIGTERM', async () => {
    const file = join(dir, 'consumer.mts');
    writeFileSync(
      file,
      example.replace("from 'clawsession/events'", `from '${resolve('src/events/index.ts')}'`),
    );
    const running = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: dir,
      env: { ...process.env, REDIS_URL, EVENT_STREAM: stream, HOSTNAME: 'doc-test' },
    });
    child = running;
    let stdout = '';
    let stderr = '';
    running.stdout?.on('data', (chunk) => {
      stdout += chunk;
    });
    running.stderr?.on('data', (chunk) => {
      stderr += chunk;
    });
    await expect.poll(() => stdout, { timeout: 15_000 }).toContain('subscribed');

    const created = toCloudEvent({
      ...updatedEventOf('s1', 1),
      type: 'session.created',
      data: { ip: null, userAgent: null, idleExpiresAt: 0, absoluteExpiresAt: 0 },
    });
    const revoked = toCloudEvent({
      ...updatedEventOf('s1', 3),
      type: 'session.revoked',
      data: { actor: 'user', reason: 'logout' },
    });
    const sink = new RedisStreamsSink({ url: REDIS_URL, stream });
    await sink.publish([created, created, toCloudEvent(updatedEventOf('s1', 2)), revoked]);
    await sink.close();

    await expect
      .poll(() => stdout.trim().split('\n'), { timeout: 15_000 })
      .toEqual(['subscribed', 'session.created alice 1', 'session.revoked alice 3']);
    const exited = once(running, 'exit');
    running.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
    expect(stderr).toBe('');
  });
});
