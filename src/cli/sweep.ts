import { Command } from 'commander';
import { redactUrl, SessionManager } from '../core/index.js';
import {
  openConfiguredStore,
  type SweepCounts,
  sweepExpired,
  underSweepLease,
} from '../gateway/index.js';
import { openRecordStore, openSweepLease } from '../stores/index.js';
import type { CliIo } from './io.js';
import { configOf, integerFrom, type StoreOptions, withStoreOptions } from './options.js';
import { printResult } from './output.js';
import { createProgress, type ProgressTask } from './progress.js';

interface SweepOptions extends StoreOptions {
  batchSize: number;
}

/** `clawsession sweep`: the gateways' sweep of expired sessions and records, run once by hand. */
export function sweepCommand(io: CliIo): Command {
  return withStoreOptions(
    new Command('sweep')
      .description(
        'Remove expired sessions and records now, in bounded batches, as gateways do every sweepInterval',
      )
      .option(
        '--batch-size <n>',
        'sessions or records per batch, 1 to 10000',
        integerFrom(1, 10_000),
        500,
      )
      .addHelpText(
        'after',
        `
It takes the store's sweep lease (Redis, PostgreSQL) as the gateways do: while
one of them is sweeping, nothing is done, and the command says so. Progress goes
to stderr: a bar on a terminal, else one JSON line per batch: kind ("sessions"
or "records"), done, total (null) and ratePerSecond.
`,
      )
      .action((options: SweepOptions) => sweep(io, options)),
  );
}

async function sweep(io: CliIo, options: SweepOptions): Promise<void> {
  const config = configOf(options);
  const opened: { close(): Promise<unknown> }[] = [];
  const progress = createProgress(io.stderr);
  try {
    const manager = new SessionManager({ store: await openConfiguredStore(config.store, config) });
    opened.push(manager);
    const records = await openRecordStore(config.store);
    opened.push(records);
    const lease = await openSweepLease(config.store);
    if (lease) opened.push(lease);
    const tasks = new Map<keyof SweepCounts, ProgressTask>();
    const outcome = await underSweepLease(lease, () =>
      sweepExpired({
        manager,
        records,
        clock: Date.now,
        batchSize: options.batchSize,
        onBatch: (kind, removed) => {
          const task = tasks.get(kind) ?? progress.start(kind, null);
          tasks.set(kind, task);
          task.update(removed);
        },
      }),
    );
    progress.stop();
    const store = redactUrl(config.store);
    if (!outcome.acquired) {
      printResult(
        io,
        options.json,
        { swept: false, reason: 'another process holds the sweep lease' },
        `Another process (a gateway) is sweeping ${store} now; nothing was swept.\n`,
      );
      return;
    }
    const { sessions, records: removed } = outcome.value;
    printResult(
      io,
      options.json,
      { swept: true, ...outcome.value },
      `Swept ${sessions} expired session${sessions === 1 ? '' : 's'} and ${removed} expired record${removed === 1 ? '' : 's'} from ${store}.\n`,
    );
  } finally {
    progress.stop();
    await Promise.allSettled(opened.map((resource) => resource.close()));
  }
}
