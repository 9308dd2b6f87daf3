import type { FastifyBaseLogger } from 'fastify';
import type { Lease, LeaseOutcome, RecordStore, SessionManager } from '../core/index.js';

/** How one sweep went: it ran, another gateway held the sweep lease, or it threw. */
export type SweepResult = 'swept' | 'skipped' | 'failed';

export interface SweeperOptions {
  interval: number;
  /** Makes one gateway of several sweep at a time; null for a store only this process uses. */
  lease: Lease | null;
  /** One sweep; resolves with how many records it removed. */
  sweep: () => Promise<number>;
  log: FastifyBaseLogger;
  /** Told how each sweep went and how many records it removed, for metrics. */
  onSweep?: (result: SweepResult, removed: number) => void;
}

/** Sweeps expired sessions and records every `interval`, never two sweeps at once. */
export function startSweeper(options: SweeperOptions): { stop(): void } {
  let sweeping = false;
  const timer = setInterval(async () => {
    if (sweeping) return;
    sweeping = true;
    try {
      await sweepOnce(options);
    } finally {
      sweeping = false;
    }
  }, options.interval);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/** One sweep under the lease, logged and reported; never throws. */
export async function sweepOnce(
  options: Pick<SweeperOptions, 'lease' | 'sweep' | 'log' | 'onSweep'>,
): Promise<SweepResult> {
  let result: SweepResult = 'skipped';
  let removed = 0;
  try {
    const outcome = await underSweepLease(options.lease, options.sweep);
    if (outcome.acquired) {
      result = 'swept';
      removed = outcome.value;
      if (removed > 0) options.log.info({ swept: removed }, 'swept expired sessions and records');
    }
  } catch (error) {
    result = 'failed';
    options.log.error({ err: error }, 'sweeping expired sessions failed');
  }
  options.onSweep?.(result, removed);
  return result;
}

/** Runs `sweep` under the sweep lease where the store has one, so that one process sweeps at a time. */
export async function underSweepLease<T>(
  lease: Lease | null,
  sweep: () => Promise<T>,
): Promise<LeaseOutcome<T>> {
  return lease ? lease.run('sweep', sweep) : { acquired: true, value: await sweep() };
}

export interface SweepCounts {
  sessions: number;
  records: number;
}

export interface SweepTargets {
  manager: SessionManager;
  records: RecordStore;
  clock: () => number;
  /** Largest batch one store call removes. Default 500. */
  batchSize?: number;
  /** Called after each batch with what it swept and how many of those are gone so far. */
  onBatch?: (kind: keyof SweepCounts, removed: number) => void;
}

/**
 * Removes expired sessions (the manager emits `expired` for each), then
 * expired records, in bounded batches until none is left.
 */
export async function sweepExpired(targets: SweepTargets): Promise<SweepCounts> {
  const batchSize = targets.batchSize ?? 500;
  const counts: SweepCounts = { sessions: 0, records: 0 };
  await targets.manager.sweepExpired({
    batchSize,
    onBatch: (removed) => {
      counts.sessions = removed;
      targets.onBatch?.('sessions', removed);
    },
  });
  for (;;) {
    const removed = await targets.records.sweepExpired(targets.clock(), batchSize);
    counts.records += removed;
    targets.onBatch?.('records', counts.records);
    if (removed < batchSize) return counts;
  }
}
