import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Route, VARIANTS } from './variants.js';

/** A bench server running in a process of its own (server-process.ts), as its parent sees it. */
export interface ServerChild {
  url: string;
  paths: Partial<Record<Route, string>>;
  pid: number;
  /** The child's `process.memoryUsage()`, asked over IPC. */
  memory(): Promise<NodeJS.MemoryUsage>;
  close(): Promise<void>;
}

/** Starts `variant` on `backend` in a child process, with `env` added to this one's. */
export async function startServerChild(
  variant: keyof typeof VARIANTS,
  backend: string,
  env: Record<string, string> = {},
): Promise<ServerChild> {
  const child: ChildProcess = fork(
    fileURLToPath(new URL('./server-process.ts', import.meta.url)),
    [variant, backend],
    {
      // The insecure-cookie warning (plain HTTP here) once per server is noise in a bench.
      execArgv: ['--import', 'tsx', '--no-warnings'],
      env: { ...process.env, ...env },
      // The gateway logs as configured (info, JSON lines); the bench throws the lines away.
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    },
  );
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`${variant} @ ${backend} exited with ${code} before it was ready`);
  });
  const [ready] = (await Promise.race([once(child, 'message'), exited])) as [
    { url: string; paths: ServerChild['paths'] },
  ];
  exited.catch(() => undefined);
  return {
    ...ready,
    pid: child.pid as number,
    async memory() {
      const answer = once(child, 'message');
      child.send('memory');
      const [{ memory }] = (await answer) as [{ memory: NodeJS.MemoryUsage }];
      return memory;
    },
    async close() {
      if (child.exitCode !== null) return;
      const exit = once(child, 'exit');
      child.send('close');
      await exit;
    },
  };
}
