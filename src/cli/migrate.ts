import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { redactUrl, ValidationError } from '../core/index.js';
import {
  countMigration,
  loadConfig,
  type MigrationProgress,
  migrateGateway,
} from '../gateway/index.js';
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
  dryRun?: boolean;
  allowEmpty?: boolean;
  live?: boolean;
  json?: boolean;
}

/** `clawsession migrate --from URL --to URL`: copies sessions, then records, in resumable batches. */
export function migrateCommand(io: CliIo): Command {
  return new Command('migrate')
    .description(
      "Copy the gateway's state (sessions, users, API keys, refresh families, revoked tokens) from one store to another, verified and resumable",
    )
    .requiredOption('--from <url>', 'source store URL (it keeps serving while the copy runs)')
    .requiredOption('--to <url>', 'target store URL')
    .option('--batch-size <n>', 'items per batch, 1 to 10000', integerFrom(1, 10_000), 500)
    .option('--state <file>', 'progress file: resume from it, rewritten after every batch')
    .option(
      '--config <file>',
      'config file for the codec and encryption keys of both stores [CLAWSESSION_CONFIG]',
    )
    .option('--dry-run', 'count what would move, per kind, and write nothing')
    .option('--allow-empty', 'go on when the source holds no clawsession data')
    .option(
      '--live',
      'move rather than copy, for gateways serving on migrating:<from>|<to> (see the README)',
    )
    .option('--json', 'print the result as one JSON document instead of text')
    .addHelpText(
      'after',
      `
A source that does not exist (a mistyped SQLite path) or holds nothing is an
error, never a new empty store. Progress goes to stderr: a bar on a terminal,
else one JSON line per batch: kind ("sessions", then "records"), done, total,
ratePerSecond and the counts of the batch. A repeat run keeps what the target
already has and replaces what is older or different: run it once more just
before switching, or switch a serving fleet with migrating: and --live.
`,
    )
    .action((options: MigrateOptions) => migrate(io, options));
}

async function migrate(io: CliIo, options: MigrateOptions): Promise<void> {
  const config = loadConfig({ file: options.config, env: process.env });
  const plan = { from: options.from, to: options.to, config, allowEmpty: options.allowEmpty };
  const counts = await countMigration(plan);
  const recordTotal = Object.values(counts.records).reduce((sum, count) => sum + count, 0);
  if (options.dryRun) {
    const byCollection = Object.entries(counts.records)
      .map(([collection, count]) => `${count} ${collection}`)
      .join(', ');
    printResult(
      io,
      options.json,
      { dryRun: true, ...counts },
      `Would move ${counts.sessions} live sessions and ${recordTotal} records (${byCollection || 'none'}) ` +
        `from ${redactUrl(options.from)} to ${redactUrl(options.to)}; nothing was written.\n`,
    );
    return;
  }
  const statePath = options.state;
  const resume = statePath && existsSync(statePath) ? readState(statePath) : null;
  const progress = createProgress(io.stderr);
  const tasks = {
    sessions: progress.start('sessions', counts.sessions),
    records: progress.start('records', recordTotal),
  };
  try {
    const result = await migrateGateway({
      ...plan,
      batchSize: options.batchSize,
      live: options.live,
      resume,
      onProgress: (state) => {
        if (statePath) writeState(statePath, state);
        if (state.phase === 'sessions') {
          const { phase: _phase, records: _records, ...sessions } = state;
          tasks.sessions.update(state.verified, sessions);
        } else if (state.records) tasks.records.update(state.records.verified, state.records);
      },
    });
    progress.stop();
    const records = result.records;
    printResult(
      io,
      options.json,
      { done: true, resumedFrom: resume?.cursor ?? null, ...result },
      `${options.live ? 'Moved' : 'Copied'} ${result.verified} live sessions and ${records?.verified ?? 0} records ` +
        `from ${redactUrl(options.from)} to ${redactUrl(options.to)} and read each back: ` +
        `sessions ${result.copied} new, ${result.refreshed} replacing an older copy, ${result.skipped} already there; ` +
        `records ${records?.copied ?? 0} new, ${records?.refreshed ?? 0} replaced, ${records?.skipped ?? 0} already there.\n`,
    );
  } finally {
    progress.stop();
  }
}

function readState(path: string): Partial<MigrationProgress> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Partial<MigrationProgress>;
  } catch (error) {
    throw new ValidationError(`cannot read migrate state ${path}: ${(error as Error).message}`);
  }
}

/** Written beside and renamed over, so a crash never leaves a half-written state file. */
function writeState(path: string, progress: MigrationProgress): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(progress));
  renameSync(`${path}.tmp`, path);
}
