import { parseStoreUrl, type StoreUrl } from '../open.js';
import type { RecordStore } from './contract.js';
import { MemoryRecordStore } from './memory.js';
import { PostgresRecordStore } from './postgres.js';
import { RedisRecordStore } from './redis.js';
import { SqliteRecordStore } from './sqlite.js';

/**
 * Opens the record store that lives beside the sessions of the store at `url`
 * (the same URL `openStore` takes, refused with ConfigError the same way):
 * - `sqlite:<path>`: the `records` table of the same file
 * - `memory:`: records in this process
 * - `redis://…`, `rediss://…`, `redis+cluster://…`: keys under `<prefix>rec:`,
 *   beside the sessions' `<prefix>` (default `cs:`)
 * - `postgres://…`: the table `recordsTable` (default `clawsession_records`) in
 *   `schema`; `table` names the sessions' table and is not used here
 * - `tiered:<hot>|<durable>`: the durable tier's, since records must outlive a
 *   cache
 */
export async function openRecordStore(url: string): Promise<RecordStore> {
  return openParsed(parseStoreUrl(url));
}

async function openParsed(parsed: StoreUrl): Promise<RecordStore> {
  switch (parsed.scheme) {
    case 'sqlite':
      return new SqliteRecordStore({ filename: parsed.filename });
    case 'memory':
      return new MemoryRecordStore();
    case 'redis':
      return RedisRecordStore.connect({ url: parsed.url, prefix: recordPrefix(parsed.prefix) });
    case 'redis+cluster':
      return RedisRecordStore.connect({
        cluster: { rootNodes: parsed.rootNodes },
        prefix: recordPrefix(parsed.prefix),
      });
    case 'postgres':
      return PostgresRecordStore.connect({
        connectionString: parsed.connectionString,
        schema: parsed.schema,
        table: parsed.recordsTable,
      });
    case 'tiered':
      return openParsed(parsed.durable);
  }
}

/** Session keys start `<prefix>s:`, `a:`, `exp:`, `u:` or `ud:`; `rec:` is free. */
function recordPrefix(sessionPrefix = 'cs:'): string {
  return `${sessionPrefix}rec:`;
}
