import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { Readable, Writable } from 'node:stream';
import type { CliIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/program.js';

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

/** Streams for one in-process run: stdin from `input`, stdout and stderr collected (not terminals). */
export function captured(input: string | Readable = '') {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (into: string[]) =>
    new Writable({
      write(chunk, _encoding, done) {
        into.push(String(chunk));
        done();
      },
    });
  const io: CliIo = {
    stdin: typeof input === 'string' ? Readable.from([input]) : input,
    stdout: sink(out),
    stderr: sink(err),
  };
  return { io, stdout: () => out.join(''), stderr: () => err.join('') };
}

/** `clawsession …` in process, with `input` on stdin: what it printed. */
export async function runInProcess(
  args: string[],
  input = '',
): Promise<{ stdout: string; stderr: string }> {
  const streams = captured(input);
  await runCli(args, streams.io);
  return { stdout: streams.stdout(), stderr: streams.stderr() };
}
