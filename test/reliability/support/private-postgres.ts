import { execFile, execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../stores/fixtures/redis.js';

const run = promisify(execFile);

/**
 * A PostgreSQL server of the test's own, in a temporary directory on a free
 * port, that the test may stop and start at will: the machine's shared
 * server on 5432 serves every other test and must never go down.
 */
export interface PrivatePostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  url: string;
  /** `pg_ctl stop -m fast`: open connections are ended, as in a restart or failover. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server (immediately) and removes its directory. Safe to call in any state, twice. */
  destroy(): Promise<void>;
}

/** initdb and start a fresh server; on any failure nothing is left behind. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'clawsession-pg-'));
  const data = join(dir, 'data');
  const port = await freePort();
  // PostgreSQL refuses to run as root; as root, its tools run as the postgres user, in a dir it owns.
  const asRoot = userInfo().uid === 0;
  if (asRoot) chownSync(dir, ...postgresIds());
  const tool = (name: string, args: string[]) =>
    asRoot
      ? run('runuser', ['-u', 'postgres', '--', name, ...args], { timeout: 60_000 })
      : run(name, args, { timeout: 60_000 });
  const pgCtl = (args: string[]) => tool('pg_ctl', ['-D', data, ...args]);
  const start = async () => {
    await pgCtl([
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      '-l',
      join(dir, 'server.log'),
      '-w',
      'start',
    ]);
  };
  let destroyed = false;
  const destroy = async () => {
    if (destroyed) return;
    destroyed = true;
    await pgCtl(['-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await tool('initdb', ['-A', 'trust', '-U', 'postgres', '-D', data]);
    await start();
  } catch (error) {
    await destroy();
    throw error;
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await pgCtl(['-m', 'fast', '-w', 'stop']);
    },
    start,
    destroy,
  };
}

function postgresIds(): [number, number] {
  const match = /uid=(\d+)\(postgres\) gid=(\d+)/.exec(
    execFileSync('id', ['postgres'], { encoding: 'utf8' }),
  );
  if (!match) throw new Error('running as root needs a postgres user to run PostgreSQL as');
  return [Number(match[1]), Number(match[2])];
}
