import type { Readable, Writable } from 'node:stream';
import { ValidationError } from '../core/index.js';
import type { CliIo } from './io.js';

/** Bytes of stdin read for a password: the policy's 1,024 characters of UTF-8, and a newline. */
const MAX_PASSWORD_INPUT = 4 * 1024 + 2;

/**
 * A new password, never from a flag, where it would land in the shell
 * history and the process list: the first line of stdin with
 * `--password-stdin`, else asked twice on the terminal without echo.
 */
export async function readNewPassword(io: CliIo, fromStdin: boolean): Promise<string> {
  if (fromStdin) return firstLine(await readBounded(io.stdin));
  const { stdin } = io;
  if (!stdin.isTTY || !stdin.setRawMode) {
    throw new ValidationError(
      'stdin is not a terminal: pipe the password in with --password-stdin',
    );
  }
  const password = await promptHidden(stdin, io.stderr, 'Password: ');
  if ((await promptHidden(stdin, io.stderr, 'Repeat password: ')) !== password)
    throw new ValidationError('the passwords do not match');
  return password;
}

async function readBounded(input: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const bytes = Buffer.from(chunk as Buffer | string);
    size += bytes.length;
    if (size > MAX_PASSWORD_INPUT) throw new ValidationError('the password on stdin is too long');
    chunks.push(bytes);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function firstLine(text: string): string {
  const end = text.search(/\r?\n/);
  return end === -1 ? text : text.slice(0, end);
}

/** One line from a terminal in raw mode, so that nothing typed is echoed. Backspace edits; Ctrl-C or Ctrl-D abort. */
function promptHidden(
  input: Readable & { setRawMode?: (raw: boolean) => unknown },
  output: Writable,
  question: string,
): Promise<string> {
  output.write(question);
  input.setRawMode?.(true);
  return new Promise<string>((resolve, reject) => {
    let answer = '';
    const finish = (error: Error | null) => {
      input.off('data', onData);
      input.setRawMode?.(false);
      input.pause();
      output.write('\n');
      if (error) reject(error);
      else resolve(answer);
    };
    const onData = (chunk: Buffer | string) => {
      for (const char of chunk.toString()) {
        if (char === '\r' || char === '\n') return finish(null);
        if (char === '\u0003' || char === '\u0004')
          return finish(new ValidationError('no password entered'));
        if (char === '\u007f' || char === '\b') answer = [...answer].slice(0, -1).join('');
        else answer += char;
      }
    };
    input.on('data', onData);
    input.resume();
  });
}
