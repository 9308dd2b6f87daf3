import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ValidationError } from '../core/index.js';
import {
  countMigration,
  loadConfig,
  type MigrationProgress,
  migrateGateway,
} from '../gateway/index.js';

/** `clawsession migrate --from URL --to URL`: copies sessions, then records, in resumable batches. */
export async function migrate(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      'batch-size': { type: 'string', default: '500' },
      state: { type: 'string' },
      config: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      'allow-empty': { type: 'boolean', default: false },
      live: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (!values.from || !values.to)
    throw new ValidationError('migrate needs --from <store-url> and --to <store-url>');
  const batchSize = Number(values['batch-size']);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new ValidationError('--batch-size must be an integer from 1 to 10000');
  }
  const config = loadConfig({ file: values.config, env: process.env });
  const plan = { from: values.from, to: values.to, config, allowEmpty: values['allow-empty'] };
  if (values['dry-run']) {
    const counts = await countMigration(plan);
    process.stdout.write(`${JSON.stringify({ dryRun: true, ...counts })}\n`);
    return;
  }
  const statePath = values.state;
  const resume = statePath && existsSync(statePath) ? readState(statePath) : null;
  const result = await migrateGateway({
    ...plan,
    batchSize,
    live: values.live,
    resume,
    onProgress: (progress) => {
      if (statePath) writeState(statePath, progress);
      process.stderr.write(`${JSON.stringify(progress)}\n`);
    },
  });
  process.stdout.write(
    `${JSON.stringify({ done: true, resumedFrom: resume?.cursor ?? null, ...result })}\n`,
  );
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
