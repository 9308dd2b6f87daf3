import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { redactUrl, ValidationError } from '../core/index.js';
import { loadConfig, openConfiguredStore } from '../gateway/index.js';
import { type CopyProgress, copySessions } from '../stores/index.js';
import type { CliIo } from './io.js';
import { integerFrom } from './options.js';
import { printResult } from './output.js';
import { createProgress } from './progress.js';

interface MigrateOptions {
  from: string;
  to: string;
  batchSize: number;
  state?: string;
  config?: string;
  json?: boolean;
}

/** `clawsession migrate --from URL --to URL`: copies live sessions in resumable batches. */
export function migrateCommand(io: CliIo): Command {
  return new Command('migrate')
    .description('Copy every live session from one store to another, verified and resumable')
    .requiredOption('--from <url>', 'source store URL (it keeps serving while the copy runs)')
    .requiredOption('--to <url>', 'target store URL')
    .option('--batch-size <n>', 'sessions per batch, 1 to 10000', integerFrom(1, 10_000), 500)
    .option('--state <file>', 'progress file: resume from it, rewritten after every batch')
    .option(
      '--config <file>',
      'config file for the codec and encryption keys of both stores [CLAWSESSION_CONFIG]',
    )
    .option('--json', 'print the result as one JSON document instead of text')
    .addHelpText(
      'after',
      `
Progress goes to stderr: a bar on a terminal, else one JSON line per batch:
kind ("sessions"), done, total, ratePerSecond, copied, skipped, refreshed,
verified and cursor. A repeat run keeps what the target already has at the same
version and replaces older sessions: run it once more just before switching.
`,
    )
    .action((options: MigrateOptions) => migrate(io, options));
}

async function migrate(io: CliIo, options: MigrateOptions): Promise<void> {
  const config = loadConfig({ file: options.config, env: process.env });
  const statePath = options.state;
  const resumeFrom = statePath && existsSync(statePath) ? readState(statePath).cursor : null;

  const from = await openConfiguredStore(options.from, config);
  const to = await openConfiguredStore(options.to, config);
  const progress = createProgress(io.stderr);
  try {
    const sessions = progress.start('sessions', await from.countLive(Date.now()));
    const result = await copySessions(from, to, {
      batchSize: options.batchSize,
      cursor: resumeFrom,
      onProgress: (copied) => {
        if (statePath) writeState(statePath, copied);
        sessions.update(copied.verified, copied);
      },
    });
    progress.stop();
    printResult(
      io,
      options.json,
      { done: true, resumedFrom: resumeFrom, ...result },
      `Copied ${result.verified} live sessions from ${redactUrl(options.from)} to ${redactUrl(options.to)} ` +
        `and read each back: ${result.copied} new, ${result.refreshed} replacing an older copy, ` +
        `${result.skipped} already there.\n`,
    );
  } finally {
    progress.stop();
    await Promise.allSettled([from.close(), to.close()]);
  }
}

function readState(path: string): CopyProgress {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as CopyProgress;
  } catch (error) {
    throw new ValidationError(`cannot read migrate state ${path}: ${(error as Error).message}`);
  }
}

/** Written beside and renamed over, so a crash never leaves a half-written state file. */
function writeState(path: string, progress: CopyProgress): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(progress));
  renameSync(`${path}.tmp`, path);
}
