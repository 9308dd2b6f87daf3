import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

/** What a bench ran on, for its results file. */
export function machine() {
  return {
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
  };
}

/** The installed version of a package (`../` for clawsession itself). */
export function packageVersion(name: string): string {
  return (
    JSON.parse(
      readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), 'utf8'),
    ) as { version: string }
  ).version;
}

/** What `command args` prints (a server's `--version`), or 'unknown' where it cannot run. */
export function commandOutput(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** The versions a bench's figures depend on: Node, clawsession, autocannon and the servers. */
export function versions() {
  return {
    node: process.version,
    clawsession: packageVersion('../'),
    autocannon: packageVersion('autocannon'),
    redis: commandOutput('redis-server', ['--version']),
    postgres: commandOutput('psql', ['--version']),
  };
}

/** The middle value, or the mean of the two middle ones. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
