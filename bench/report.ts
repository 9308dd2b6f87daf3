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

/** The versions a bench's figures depend on: Node, clawsession, autocannon and the servers. */
export function versions() {
  const serverVersion = (command: string, args: string[]) => {
    try {
      return execFileSync(command, args, { encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  };
  return {
    node: process.version,
    clawsession: packageVersion('../'),
    autocannon: packageVersion('autocannon'),
    redis: serverVersion('redis-server', ['--version']),
    postgres: serverVersion('psql', ['--version']),
  };
}
