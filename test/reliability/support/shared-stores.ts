import { randomBytes } from 'node:crypto';
import { Pool } from 'pg';
import { dropKeys, REDIS_URL } from '../../stores/fixtures/redis.js';

const POSTGRES_URL =
  process.env.CLAWSESSION_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A store of its own on the machine's shared server, and how to remove it afterwards. */
export interface ScratchStore {
  name: string;
  /** The store URL for the gateway. */
  url: string;
  /** The same store reached through `host:port` instead (a proxy in front of the server). */
  via(host: string, port: number): string;
  /** The server's own host and port, for a proxy to forward to. */
  server: { host: string; port: number };
  drop(): Promise<void>;
}

/** Keys under a fresh prefix on the shared Redis. */
export function scratchRedis(): ScratchStore {
  const prefix = `cs:reliability:${randomBytes(4).toString('hex')}:`;
  const server = new URL(REDIS_URL);
  const at = (host: string, port: number) => {
    const url = new URL(REDIS_URL);
    url.hostname = host;
    url.port = String(port);
    url.search = `?prefix=${prefix}`;
    return url.toString();
  };
  return {
    name: 'Redis',
    url: at(server.hostname, Number(server.port || 6379)),
    via: at,
    server: { host: server.hostname, port: Number(server.port || 6379) },
    drop: () => dropKeys(REDIS_URL, prefix),
  };
}

/** A fresh schema on the shared PostgreSQL. */
export function scratchPostgres(): ScratchStore {
  const schema = `reliability_${randomBytes(4).toString('hex')}`;
  const server = new URL(POSTGRES_URL);
  const at = (host: string, port: number) => {
    const url = new URL(POSTGRES_URL);
    url.hostname = host;
    url.port = String(port);
    url.search = `?schema=${schema}`;
    return url.toString();
  };
  return {
    name: 'PostgreSQL',
    url: at(server.hostname, Number(server.port || 5432)),
    via: at,
    server: { host: server.hostname, port: Number(server.port || 5432) },
    async drop() {
      const pool = new Pool({ connectionString: POSTGRES_URL });
      try {
        await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await pool.end();
      }
    },
  };
}
