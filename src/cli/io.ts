import type { Readable, Writable } from 'node:stream';

/** Where a command talks: the process's own streams, or a test's. */
export interface CliIo {
  stdin: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: Writable & { isTTY?: boolean; columns?: number };
  /** Prompts and progress; a terminal here gets progress bars, anything else JSON lines. */
  stderr: Writable & { isTTY?: boolean; columns?: number };
}

export function processIo(): CliIo {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
}
