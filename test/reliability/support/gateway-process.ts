import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';

/** The built `clawsession` bin: `npm run test:reliability` builds first. */
const BIN = resolve('dist/cli/main.js');
/** Preloaded into a gateway started with `heapProbe`: see heap-probe.mjs. */
const HEAP_PROBE = resolve('test/reliability/support/heap-probe.mjs');
const START_TIMEOUT_MS = 30_000;

/** A running `clawsession serve` process. */
export interface GatewayProcess {
  /** `http://127.0.0.1:<port>` */
  url: string;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (null when a signal ended it) once the process has exited. */
  exited: Promise<number | null>;
  /** Sends SIGTERM and waits for the exit; SIGKILL if it has not exited within `timeoutMs`. */
  stop(timeoutMs?: number): Promise<number | null>;
  /** Heap bytes in use right after a full garbage collection; needs `heapProbe: true`. */
  heapUsedAfterGc(): Promise<number>;
}

export interface GatewayProcessOptions {
  /** Settings as CLAWSESSION_* variables; CLAWSESSION_PORT defaults to 0 (a free port). */
  env: Record<string, string>;
  /** Preload the heap probe (and expose gc) so `heapUsedAfterGc` works. */
  heapProbe?: boolean;
}

/** Spawns `clawsession serve` and resolves once it prints its address; rejects if it exits or takes over 30 s. */
export async function startGatewayProcess(options: GatewayProcessOptions): Promise<GatewayProcess> {
  const nodeArgs = options.heapProbe ? ['--expose-gc', '--import', HEAP_PROBE] : [];
  const child = spawn(process.execPath, [...nodeArgs, BIN, 'serve'], {
    env: {
      PATH: process.env.PATH,
      CLAWSESSION_PORT: '0',
      CLAWSESSION_LOG_LEVEL: 'warn',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const probeReadings: ((bytes: number) => void)[] = [];
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  let stderrLine = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    output += text;
    const lines = (stderrLine + text).split('\n');
    stderrLine = lines.pop() ?? '';
    for (const line of lines) {
      const reading = /^heap-probe (\d+)$/.exec(line);
      if (reading) probeReadings.shift()?.(Number(reading[1]));
    }
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);

  const started = Date.now();
  let url: string | undefined;
  while (url === undefined) {
    url = /listening on (http:\/\/\S+)/.exec(output)?.[1];
    if (url !== undefined) break;
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(
        `gateway exited (${child.exitCode ?? child.signalCode}) before listening:\n${output}`,
      );
    if (Date.now() - started > START_TIMEOUT_MS) {
      child.kill('SIGKILL');
      throw new Error(`gateway did not listen within ${START_TIMEOUT_MS} ms:\n${output}`);
    }
    await Promise.race([once(child.stdout as NodeJS.ReadableStream, 'data'), exited, delay(500)]);
  }

  return {
    url,
    child,
    output: () => output,
    exited,
    async stop(timeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
    async heapUsedAfterGc() {
      if (!options.heapProbe) throw new Error('start the gateway with heapProbe: true');
      const reading = new Promise<number>((resolveReading, reject) => {
        const timer = setTimeout(
          () => reject(new Error('no heap-probe reading within 10 s')),
          10_000,
        );
        probeReadings.push((bytes) => {
          clearTimeout(timer);
          resolveReading(bytes);
        });
      });
      child.kill('SIGUSR2');
      return reading;
    },
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolveDelay) => setTimeout(resolveDelay, ms));
}
