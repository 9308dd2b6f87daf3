import { resolve } from 'node:path';
import { ConfigError, type SessionCodec, type SessionStore } from '../core/index.js';
import type { Lease } from './lease.js';
import { MemoryStore } from './memory.js';
import { PostgresStore } from './postgres.js';
import { PostgresLease } from './postgres-lease.js';
import { SqliteStore } from './sqlite.js';

/**
 * Opens a store from a URL: `sqlite:<path>` (relative to the working
 * directory, or `sqlite::memory:`), `memory:` (optionally `memory:?max=N`),
 * `postgres://user@host:5432/db` (optionally `?schema=…&table=…`).
 */
export async function openStore(
  url: string,
  options: { codec?: SessionCodec } = {},
): Promise<SessionStore> {
  const scheme = url.slice(0, url.indexOf(':') + 1);
  const rest = url.slice(scheme.length);
  switch (scheme) {
    case 'sqlite:': {
      if (rest === '')
        throw new ConfigError('a sqlite store URL needs a path, e.g. sqlite:./data/clawsession.db');
      const filename = rest === ':memory:' ? rest : resolve(rest.replace(/^\/\/(?=\/)/, ''));
      return new SqliteStore({ filename, codec: options.codec });
    }
    case 'postgres:':
    case 'postgresql:': {
      const parsed = new URL(url);
      const schema = parsed.searchParams.get('schema') ?? undefined;
      const table = parsed.searchParams.get('table') ?? undefined;
      parsed.searchParams.delete('schema');
      parsed.searchParams.delete('table');
      return PostgresStore.connect({
        connectionString: parsed.toString(),
        schema,
        table,
        codec: options.codec,
      });
    }
    case 'memory:': {
      const max = new URLSearchParams(rest.replace(/^\?/, '')).get('max');
      if (max !== null && !/^[1-9][0-9]*$/.test(max))
        throw new ConfigError('memory:?max= needs a positive integer');
      return new MemoryStore({ codec: options.codec, max: max === null ? undefined : Number(max) });
    }
    default:
      throw new ConfigError(
        `unsupported store URL ${JSON.stringify(url)}: use sqlite:<path>, memory:, postgres://…`,
      );
  }
}

/**
 * The lease that keeps sweeps to one instance at a time for the store at
 * `url`, or null where one process owns the store (memory) or a sweep by two
 * processes is harmless (SQLite re-checks expiry as it deletes).
 */
export async function openSweepLease(url: string): Promise<Lease | null> {
  const scheme = url.slice(0, url.indexOf(':') + 1);
  if (scheme === 'postgres:' || scheme === 'postgresql:') {
    const parsed = new URL(url);
    parsed.search = '';
    return new PostgresLease({ connectionString: parsed.toString() });
  }
  return null;
}
