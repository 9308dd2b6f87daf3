import type { FastifyBaseLogger } from 'fastify';
import type { Lease } from '../core/index.js';

export interface SweeperOptions {
  interval: number;
  /** Makes one gateway of several sweep at a time; null for a store only this process uses. */
  lease: Lease | null;
  /** One sweep; resolves with how many records it removed. */
  sweep: () => Promise<number>;
  log: FastifyBaseLogger;
}

/** Sweeps expired sessions and records every `interval`, never two sweeps at once. */
export function startSweeper(options: SweeperOptions): { stop(): void } {
  let sweeping = false;
  const timer = setInterval(async () => {
    if (sweeping) return;
    sweeping = true;
    try {
      const outcome = options.lease
        ? await options.lease.run('sweep', options.sweep)
        : { acquired: true as const, value: await options.sweep() };
      if (outcome.acquired && outcome.value > 0)
        options.log.info({ swept: outcome.value }, 'swept expired sessions and records');
    } catch (error) {
      options.log.error({ err: error }, 'sweeping expired sessions failed');
    } finally {
      sweeping = false;
    }
  }, options.interval);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
