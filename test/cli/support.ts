import { execFile } from 'node:child_process';
import { resolve } from 'node:path';

// `npm test` builds first (pretest), so this drives the real `clawsession` bin.
export const BIN = resolve('dist/cli/main.js');

/** Runs the bin to its end: exit code and output, failures included. */
export function cli(
  args: string[],
  options: { env?: Record<string, string>; input?: string; cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env.PATH, ...options.env }, cwd: options.cwd },
      (error, stdout, stderr) => done({ code: error ? (error.code as number) : 0, stdout, stderr }),
    );
    child.stdin?.end(options.input ?? '');
  });
}
