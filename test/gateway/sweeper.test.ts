import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Lease } from '../../src/core/index.js';
import { GatewayMetrics } from '../../src/gateway/metrics.js';
import { type SweepResult, sweepOnce } from '../../src/gateway/sweeper.js';
import { openSweepLease } from '../../src/stores/index.js';
import { dropKeys, freshPrefix, REDIS_URL, RUN_PREFIX } from '../stores/fixtures/redis.js';
import { parseExposition, sampleValue } from '../support/exposition.js';

const leases: Lease[] = [];
afterEach(async () => {
  await Promise.all(leases.splice(0).map((lease) => lease.close()));
});
afterAll(() => dropKeys(REDIS_URL, RUN_PREFIX));

function recordingLog() {
  const lines: string[] = [];
  const log = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    }),
  );
  return { log, lines };
}

async function redisLeases(count: number): Promise<Lease[]> {
  const url = `${REDIS_URL}?prefix=${freshPrefix()}`;
  const opened: Lease[] = [];
  for (let i = 0; i < count; i++) {
    const lease = await openSweepLease(url);
    if (lease === null) throw new Error('a Redis store has a sweep lease');
    opened.push(lease);
  }
  leases.push(...opened);
  return opened;
}

describe('one sweep', () => {
  it('reports what it removed, skips while another gateway holds the lease, and reports a failure', async () => {
    const [mine, theirs] = (await redisLeases(2)) as [Lease, Lease];
    const { log, lines } = recordingLog();
    const reports: [SweepResult, number][] = [];
    const onSweep = (result: SweepResult, removed: number) => reports.push([result, removed]);

    expect(await sweepOnce({ lease: mine, sweep: async () => 3, log, onSweep })).toBe('swept');

    let release = () => {};
    let taken = () => {};
    const holding = new Promise<void>((resolve) => {
      taken = resolve;
    });
    const held = theirs.run('sweep', () => {
      taken();
      return new Promise<void>((resolve) => {
        release = resolve;
      });
    });
    // Only once their work runs is the lease theirs, and `release` theirs to call.
    await holding;
    let swept = false;
    const sweep = async () => {
      swept = true;
      return 1;
    };
    expect(await sweepOnce({ lease: mine, sweep, log, onSweep })).toBe('skipped');
    expect(swept).toBe(false);
    release();
    await held;

    const failing = async (): Promise<number> => {
      throw new Error('the archive bucket is gone');
    };
    expect(await sweepOnce({ lease: mine, sweep: failing, log, onSweep })).toBe('failed');
    expect(await sweepOnce({ lease: null, sweep: async () => 0, log, onSweep })).toBe('swept');

    expect(reports).toEqual([
      ['swept', 3],
      ['skipped', 0],
      ['failed', 0],
      ['swept', 0],
    ]);
    const logged = lines.map((line) => JSON.parse(line) as { msg: string; swept?: number });
    expect(logged.map(({ msg, swept }) => [msg, swept])).toEqual([
      ['swept expired sessions and records', 3],
      ['sweeping expired sessions failed', undefined],
    ]);
  });
});

describe('the sweep metrics', () => {
  it('count sweeps by result and removed records, and tell when the last one succeeded', async () => {
    const metrics = new GatewayMetrics({ countLiveSessions: async () => 0, sweepInterval: 60_000 });
    const scrape = async () => parseExposition(await metrics.metrics());
    let samples = await scrape();
    for (const result of ['swept', 'skipped', 'failed'])
      expect(sampleValue(samples, 'clawsession_sweeps_total', { result })).toBe(0);
    expect(sampleValue(samples, 'clawsession_sweep_last_success_timestamp_seconds')).toBe(0);
    expect(sampleValue(samples, 'clawsession_sweep_interval_seconds')).toBe(60);

    const at = Date.UTC(2026, 0, 1);
    metrics.recordSweep('swept', 5, at);
    metrics.recordSweep('skipped', 0, at + 60_000);
    metrics.recordSweep('failed', 0, at + 120_000);
    samples = await scrape();
    expect(sampleValue(samples, 'clawsession_sweeps_total', { result: 'swept' })).toBe(1);
    expect(sampleValue(samples, 'clawsession_sweeps_total', { result: 'skipped' })).toBe(1);
    expect(sampleValue(samples, 'clawsession_sweeps_total', { result: 'failed' })).toBe(1);
    expect(sampleValue(samples, 'clawsession_swept_records_total')).toBe(5);
    expect(sampleValue(samples, 'clawsession_sweep_last_success_timestamp_seconds')).toBe(
      at / 1000,
    );
  });
});
