import cliProgress from 'cli-progress';
import type { CliIo } from './io.js';

/** One kind of work being counted (`sessions`, `records`…). */
export interface ProgressTask {
  /**
   * `done` items so far. `details` (counts by outcome, a cursor) go into the
   * JSON line beside `kind`, `done`, `total` and `ratePerSecond`.
   */
  update(done: number, details?: object): void;
}

/** Long work reported as it goes: bars on a terminal, JSON lines anywhere else. */
export interface Progress {
  /** Starts counting one kind of work; `total`, when known, gives the bar its ETA. */
  start(kind: string, total: number | null): ProgressTask;
  /** Draws the bars a last time and leaves them on screen; again, it does nothing. */
  stop(): void;
}

const BOUNDED = '{kind} [{bar}] {value}/{total} | {rate}/s | ETA {eta_formatted}';
const UNBOUNDED = '{kind} {value} | {rate}/s | {duration_formatted}';

/** Progress on `stream` (the command's stderr, so that stdout holds only the result). */
export function createProgress(
  stream: CliIo['stderr'],
  options: { clock?: () => number } = {},
): Progress {
  const clock = options.clock ?? Date.now;
  const rateSince = (startedAt: number, done: number) => {
    const seconds = (clock() - startedAt) / 1000;
    return seconds > 0 ? Math.round(done / seconds) : 0;
  };
  if (!stream.isTTY) {
    return {
      start(kind, total) {
        const startedAt = clock();
        return {
          update(done, details = {}) {
            const ratePerSecond = rateSince(startedAt, done);
            stream.write(`${JSON.stringify({ kind, done, total, ratePerSecond, ...details })}\n`);
          },
        };
      },
      stop() {},
    };
  }
  const bars = new cliProgress.MultiBar({ stream, format: BOUNDED, barsize: 30 });
  let drawing = false;
  return {
    start(kind, total) {
      drawing = true;
      const startedAt = clock();
      const bar = bars.create(
        total ?? 0,
        0,
        { kind, rate: 0 },
        { format: total === null ? UNBOUNDED : BOUNDED },
      );
      return {
        update(done) {
          // A total counted at the start can be passed by sessions created meanwhile.
          if (total !== null && done > bar.getTotal()) bar.setTotal(done);
          bar.update(done, { rate: rateSince(startedAt, done) });
        },
      };
    },
    stop() {
      if (drawing) bars.stop();
      drawing = false;
    },
  };
}
