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

/**
 * Opens a store from a URL:
 * - `sqlite:<path>` (relative to the working directory) or `sqlite::memory:`
 * - `memory:` (optionally `memory:?max=N`)
 * - `redis://[user:password@]host:port[/db]` or `rediss://…` (optionally `?prefix=…`)
 * - `redis+cluster://[user:password@]host:port,host:port` (some nodes of a Redis Cluster)
 * - `postgres://user@host:5432/db` (optionally `?schema=…&table=…`)
 * - `tiered:<hot url>|<durable url>`, e.g. `tiered:redis://127.0.0.1:6379|postgres://…`
 */
export async function openStore(
  url: string,
  options: { codec?: SessionCodec } = {},
): Promise<SessionStore> {
  const scheme = schemeOf(url);
  const rest = url.slice(scheme.length);
  switch (scheme) {
    case 'sqlite:': {
      if (rest === '')
        throw new ConfigError('a sqlite store URL needs a path, e.g. sqlite:./data/clawsession.db');
      const filename = rest === ':memory:' ? rest : resolve(rest.replace(/^\/\/(?=\/)/, ''));
      return new SqliteStore({ filename, codec: options.codec });
    }
    case 'memory:': {
      const max = new URLSearchParams(rest.replace(/^\?/, '')).get('max');
      if (max !== null && !/^[1-9][0-9]*$/.test(max))
        throw new ConfigError('memory:?max= needs a positive integer');
      return new MemoryStore({ codec: options.codec, max: max === null ? undefined : Number(max) });
    }
    case 'redis:':
    case 'rediss:': {
      const { base, params } = splitQuery(url, ['prefix']);
      return RedisStore.connect({ url: base, prefix: params.prefix, codec: options.codec });
    }
    case 'redis+cluster:': {
      const { base, params } = splitQuery(url, ['prefix']);
      return RedisStore.connect({
        cluster: { rootNodes: clusterNodes(base) },
        prefix: params.prefix,
        codec: options.codec,
      });
    }
    case 'postgres:':
    case 'postgresql:': {
      const { base, params } = splitQuery(url, ['schema', 'table']);
      return PostgresStore.connect({
        connectionString: base,
        schema: params.schema,
        table: params.table,
        codec: options.codec,
      });
    }
    case 'tiered:': {
      const [hotUrl, durableUrl, extra] = rest.split('|');
      if (!hotUrl || !durableUrl || extra !== undefined) {
        throw new ConfigError('a tiered store URL is tiered:<hot url>|<durable url>');
      }
      const hot = await openStore(hotUrl, options);
      try {
        return new TieredStore(hot, await openStore(durableUrl, options));
      } catch (error) {
        await hot.close();
        throw error;
      }
    }
    default:
      throw new ConfigError(
        `unsupported store URL ${JSON.stringify(redactUrl(url))}: use ${SUPPORTED}`,
      );
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
    return new PostgresLease({ connectionString: splitQuery(url, ['schema', 'table']).base });
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
