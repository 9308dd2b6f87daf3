import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

/**
 * Starts one process per tag, each opening its own store from `storeUrl`
 * (test/stores/fixtures/store-patcher.ts), lets them all start together, and
 * resolves when every one has appended `count` items to the session `id`.
 */
export async function appendFromProcesses(
  storeUrl: string,
  id: string,
  tags: string[],
  count: number,
): Promise<void> {
  const children = tags.map((tag) =>
    spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'test/stores/fixtures/store-patcher.ts',
        storeUrl,
        id,
        tag,
        String(count),
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    ),
  );
  try {
    await Promise.all(children.map((child) => nextLine(child, 'ready')));
    for (const child of children) child.stdin.write('go\n');
    await Promise.all(children.map((child) => nextLine(child, 'done')));
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  }
}

/** Resolves once the child prints `line`; rejects if it exits first. */
function nextLine(
  child: { stdout: Readable; off: ChildEvents; once: ChildEvents },
  line: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      if (buffered.split('\n').includes(line)) {
        cleanup();
        resolve();
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`child exited with ${code} before printing ${line}`));
    };
    const cleanup = () => {
      child.stdout.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout.on('data', onData);
    child.once('exit', onExit);
  });
}

type ChildEvents = (event: 'exit', listener: (code: number | null) => void) => unknown;
