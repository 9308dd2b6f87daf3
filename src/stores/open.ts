import {
  type Lease,
  openBackend,
  type RecordStore,
  registerBackend,
  type SessionCodec,
  type SessionStore,
} from '../core/index.js';
import { memoryBackend } from './memory/index.js';
import { migratingBackend } from './migrating-backend.js';
import { postgresBackend } from './postgres/index.js';
import { redisBackend } from './redis/index.js';
import { sqliteBackend } from './sqlite/index.js';
import { tieredBackend } from './tiered-backend.js';

// The built-in backends, in the order the "unsupported store URL" message lists them.
for (const backend of [
  sqliteBackend,
  memoryBackend,
  redisBackend,
  postgresBackend,
  tieredBackend,
  migratingBackend,
])
  registerBackend(backend);

/**
 * Opens the session store at a URL (see each backend for its options):
 * - `sqlite:<path>` (relative to the working directory) or `sqlite::memory:`
 * - `memory:` (optionally `memory:?max=N`)
 * - `redis://[user:password@]host:port[/db]` or `rediss://…` (optionally `?prefix=…`)
 * - `redis+cluster://[user:password@]host:port,host:port` (some nodes of a Redis Cluster)
 * - `postgres://user@host:5432/db` (optionally `?schema=…&table=…`; `recordsTable=…` is
 *   for `openRecordStore`)
 * - `tiered:<hot url>|<durable url>`, e.g. `tiered:redis://127.0.0.1:6379|postgres://…`
 * - `migrating:<old url>|<new url>`, while a fleet moves from one store to another
 *
 * The same as `openBackend(url).openSessions(options)`.
 */
export async function openStore(
  url: string,
  options: { codec?: SessionCodec } = {},
): Promise<SessionStore> {
  return openBackend(url).openSessions(options);
}

/**
 * Opens the record store beside the sessions of the store at `url`: the
 * `records` table of a SQLite file, keys under `<prefix>rec:` in Redis, the
 * table `recordsTable` (default `clawsession_records`) in PostgreSQL, the
 * durable tier's for a tiered URL. The same as `openBackend(url).openRecords()`.
 */
export async function openRecordStore(url: string): Promise<RecordStore> {
  return openBackend(url).openRecords();
}

/**
 * The lease that keeps sweeps to one instance at a time for the store at
 * `url`, or null where one process owns the store (memory) or a sweep by two
 * processes is harmless (SQLite re-checks expiry as it deletes).
 */
export async function openSweepLease(url: string): Promise<Lease | null> {
  return (await openBackend(url).openLease?.()) ?? null;
}

export { openBackend };
