import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { splitQuery } from '../../core/backend-kit.js';
import { type BackendDefinition, ConfigError, StoreNotFoundError } from '../../core/index.js';
import { loadSqlite } from './driver.js';
import { SqliteRecordStore } from './record-store.js';
import { SqliteStore } from './session-store.js';

/**
 * `sqlite:<path>` (relative to the working directory) or `sqlite::memory:`:
 * sessions and records in one embedded database file, for one process.
 */
export const sqliteBackend: BackendDefinition = {
  schemes: ['sqlite:'],
  usage: 'sqlite:<path>',
  parse(url) {
    const rest = splitQuery(url, [], { backend: 'sqlite' }).base.slice('sqlite:'.length);
    if (rest === '')
      throw new ConfigError('a sqlite store URL needs a path, e.g. sqlite:./data/clawsession.db');
    const filename = rest === ':memory:' ? rest : resolve(rest.replace(/^\/\/(?=\/)/, ''));
    return {
      name: 'sqlite',
      displayUrl: url,
      // A sweep by two processes is harmless (SQLite re-checks expiry as it deletes), so no lease.
      shared: false,
      async openSessions({ codec, mustExist, outbox } = {}) {
        if (mustExist) refuseMissing(filename, url);
        await loadSqlite();
        return new SqliteStore({ filename, codec, outbox });
      },
      async openRecords({ mustExist } = {}) {
        if (mustExist) refuseMissing(filename, url);
        await loadSqlite();
        return new SqliteRecordStore({ filename });
      },
    };
  },
};

/** Opening a missing file would create an empty database: a mistyped source path must not. */
function refuseMissing(filename: string, url: string): void {
  if (filename !== ':memory:' && !existsSync(filename))
    throw new StoreNotFoundError(`no SQLite database at ${url} (${filename} does not exist)`);
}
