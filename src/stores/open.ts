import { resolve } from 'node:path';
import { ConfigError, type SessionCodec, type SessionStore } from '../core/index.js';
import type { Lease } from './lease.js';
import { MemoryStore } from './memory.js';
import { PostgresStore } from './postgres.js';
import { PostgresLease } from './postgres-lease.js';
import { RedisStore } from './redis/index.js';
import { RedisLease } from './redis-lease.js';
import { SqliteStore } from './sqlite.js';
import { TieredStore } from './tiered.js';

const SUPPORTED =
  'sqlite:<path>, memory:, redis://host:port, redis+cluster://host:port,host:port, postgres://…, tiered:<hot url>|<durable url>';

/** Query parameters of a postgres URL that are ours, not the driver's. */
const POSTGRES_PARAMS = ['schema', 'table', 'recordsTable'];

/** A store URL taken apart: what `openStore` and `openRecordStore` open. */
export type StoreUrl =
  | { scheme: 'sqlite'; filename: string }
  | { scheme: 'memory'; max: number | undefined }
  | { scheme: 'redis'; url: string; prefix: string | undefined }
  | { scheme: 'redis+cluster'; rootNodes: string[]; prefix: string | undefined }
  | {
      scheme: 'postgres';
      connectionString: string;
      schema: string | undefined;
      table: string | undefined;
      recordsTable: string | undefined;
    }
  | { scheme: 'tiered'; hot: StoreUrl; durable: StoreUrl };

/**
 * Takes a store URL apart (see `openStore` for the schemes), or fails with
 * ConfigError. Opens nothing, so a bad URL anywhere in a tiered one is refused
 * before any connection is made.
 */
export function parseStoreUrl(url: string): StoreUrl {
  const scheme = schemeOf(url);
  const rest = url.slice(scheme.length);
  switch (scheme) {
    case 'sqlite:': {
      if (rest === '')
        throw new ConfigError('a sqlite store URL needs a path, e.g. sqlite:./data/clawsession.db');
      const filename = rest === ':memory:' ? rest : resolve(rest.replace(/^\/\/(?=\/)/, ''));
      return { scheme: 'sqlite', filename };
    }
    case 'memory:': {
      const max = new URLSearchParams(rest.replace(/^\?/, '')).get('max');
      if (max !== null && !/^[1-9][0-9]*$/.test(max))
        throw new ConfigError('memory:?max= needs a positive integer');
      return { scheme: 'memory', max: max === null ? undefined : Number(max) };
    }
    case 'redis:':
    case 'rediss:': {
      const { base, params } = splitQuery(url, ['prefix']);
      return { scheme: 'redis', url: base, prefix: params.prefix };
    }
    case 'redis+cluster:': {
      const { base, params } = splitQuery(url, ['prefix']);
      return { scheme: 'redis+cluster', rootNodes: clusterNodes(base), prefix: params.prefix };
    }
    case 'postgres:':
    case 'postgresql:': {
      const { base, params } = splitQuery(url, POSTGRES_PARAMS);
      return {
        scheme: 'postgres',
        connectionString: base,
        schema: params.schema,
        table: params.table,
        recordsTable: params.recordsTable,
      };
    }
    case 'tiered:': {
      const [hotUrl, durableUrl, extra] = rest.split('|');
      if (!hotUrl || !durableUrl || extra !== undefined) {
        throw new ConfigError('a tiered store URL is tiered:<hot url>|<durable url>');
      }
      return { scheme: 'tiered', hot: parseStoreUrl(hotUrl), durable: parseStoreUrl(durableUrl) };
    }
    default:
      throw new ConfigError(
        `unsupported store URL ${JSON.stringify(redactUrl(url))}: use ${SUPPORTED}`,
      );
  }
}

/**
 * Opens a store from a URL:
 * - `sqlite:<path>` (relative to the working directory) or `sqlite::memory:`
 * - `memory:` (optionally `memory:?max=N`)
 * - `redis://[user:password@]host:port[/db]` or `rediss://…` (optionally `?prefix=…`)
 * - `redis+cluster://[user:password@]host:port,host:port` (some nodes of a Redis Cluster)
 * - `postgres://user@host:5432/db` (optionally `?schema=…&table=…`; `recordsTable=…` is
 *   for `openRecordStore`)
 * - `tiered:<hot url>|<durable url>`, e.g. `tiered:redis://127.0.0.1:6379|postgres://…`
 */
export async function openStore(
  url: string,
  options: { codec?: SessionCodec } = {},
): Promise<SessionStore> {
  return openParsed(parseStoreUrl(url), options);
}

async function openParsed(
  parsed: StoreUrl,
  options: { codec?: SessionCodec },
): Promise<SessionStore> {
  const { codec } = options;
  switch (parsed.scheme) {
    case 'sqlite':
      return new SqliteStore({ filename: parsed.filename, codec });
    case 'memory':
      return new MemoryStore({ codec, max: parsed.max });
    case 'redis':
      return RedisStore.connect({ url: parsed.url, prefix: parsed.prefix, codec });
    case 'redis+cluster':
      return RedisStore.connect({
        cluster: { rootNodes: parsed.rootNodes },
        prefix: parsed.prefix,
        codec,
      });
    case 'postgres':
      return PostgresStore.connect({
        connectionString: parsed.connectionString,
        schema: parsed.schema,
        table: parsed.table,
        codec,
      });
    case 'tiered': {
      const hot = await openParsed(parsed.hot, options);
      try {
        return new TieredStore(hot, await openParsed(parsed.durable, options));
      } catch (error) {
        await hot.close();
        throw error;
      }
    }
  }
}

/**
 * The lease that keeps sweeps to one instance at a time for the store at
 * `url`, or null where one process owns the store (memory) or a sweep by two
 * processes is harmless (SQLite re-checks expiry as it deletes).
 */
export async function openSweepLease(url: string): Promise<Lease | null> {
  const scheme = schemeOf(url);
  if (scheme === 'postgres:' || scheme === 'postgresql:') {
    return new PostgresLease({ connectionString: splitQuery(url, POSTGRES_PARAMS).base });
  }
  if (scheme === 'redis:' || scheme === 'rediss:') {
    return RedisLease.connect({ url: splitQuery(url, ['prefix']).base });
  }
  if (scheme === 'redis+cluster:') {
    return RedisLease.connect({
      cluster: { rootNodes: clusterNodes(splitQuery(url, ['prefix']).base) },
    });
  }
  if (scheme === 'tiered:') return openSweepLease(url.slice(scheme.length).split('|')[1] ?? '');
  return null;
}

/** The URL with any password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/g, '//$1:***@');
}

function schemeOf(url: string): string {
  return url.slice(0, url.indexOf(':') + 1);
}

function splitQuery(
  url: string,
  names: string[],
): { base: string; params: Record<string, string | undefined> } {
  const queryAt = url.indexOf('?');
  if (queryAt === -1) return { base: url, params: {} };
  const search = new URLSearchParams(url.slice(queryAt + 1));
  const params: Record<string, string | undefined> = {};
  for (const name of names) {
    params[name] = search.get(name) ?? undefined;
    search.delete(name);
  }
  const remaining = search.toString();
  return { base: url.slice(0, queryAt) + (remaining ? `?${remaining}` : ''), params };
}

function clusterNodes(base: string): string[] {
  const match = /^redis\+cluster:\/\/(?:([^@]*)@)?(.+)$/.exec(base);
  if (!match?.[2])
    throw new ConfigError(
      'a cluster URL is redis+cluster://[user:password@]host:port[,host:port…]',
    );
  const credentials = match[1] ? `${match[1]}@` : '';
  return match[2].split(',').map((node) => `redis://${credentials}${node.trim()}`);
}
