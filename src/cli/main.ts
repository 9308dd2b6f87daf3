#!/usr/bin/env node
import { ClawsessionError } from '../core/index.js';
import { runCli } from './program.js';

// A reader that stops early (`clawsession --help | head`) is not a failure.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(0);
});

// An error clawsession expects (a refused command line or config, a missing key…) is one
// line and exit code 2; anything else is a bug or an outage, shown with its stack.
runCli(process.argv.slice(2)).catch((error: unknown) => {
  const known = error instanceof ClawsessionError;
  process.stderr.write(
    `clawsession: ${known ? error.message : ((error as Error).stack ?? String(error))}\n`,
  );
  process.exit(known ? 2 : 1);
});
