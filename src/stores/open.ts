import { resolve } from 'node:path';
import { ConfigError, type SessionCodec, type SessionStore } from '../core/index.js';
import { MemoryStore } from './memory.js';
import { PostgresStore } from './postgres.js';
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
