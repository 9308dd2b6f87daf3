import type { FastifyBaseLogger } from 'fastify';
import type { Lease } from '../core/index.js';

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
    const outcome = options.lease
      ? await options.lease.run('sweep', options.sweep)
      : { acquired: true as const, value: await options.sweep() };
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
