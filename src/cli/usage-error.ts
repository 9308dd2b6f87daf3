import { ClawsessionError } from '../core/index.js';

/** A command line the CLI cannot run: wrong subcommand or missing arguments (exit code 2). */
export class UsageError extends ClawsessionError {
  constructor(message: string) {
    super('ERR_USAGE', message);
  }
}
