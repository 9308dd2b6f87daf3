import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ValidationError } from '../core/index.js';
import { loadConfig, openConfiguredStore } from '../gateway/index.js';
import { type CopyProgress, copySessions } from '../stores/index.js';

/** `clawsession migrate --from URL --to URL`: copies live sessions in resumable batches. */
export async function migrate(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      'batch-size': { type: 'string', default: '500' },
      state: { type: 'string' },
      config: { type: 'string' },
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
  const statePath = values.state;
  const resumeFrom = statePath && existsSync(statePath) ? readState(statePath).cursor : null;

  const from = await openConfiguredStore(values.from, config);
  const to = await openConfiguredStore(values.to, config);
  try {
    const result = await copySessions(from, to, {
      batchSize,
      cursor: resumeFrom,
      onProgress: (progress) => {
        if (statePath) writeState(statePath, progress);
        process.stderr.write(`${JSON.stringify(progress)}\n`);
      },
    });
    process.stdout.write(`${JSON.stringify({ done: true, resumedFrom: resumeFrom, ...result })}\n`);
  } finally {
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
