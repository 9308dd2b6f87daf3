import type { RedisArgument } from 'redis';
import { storeUnavailable } from '../../core/backend-kit.js';
import { ConfigError, Deadline, StoreUnavailableError, withTimeout } from '../../core/index.js';
import { loadRedis, type RedisDriver } from './driver.js';
import type { Script } from './scripts.js';

/** The little the store needs from a standalone server or a cluster: commands routed by key. */
export interface Connection {
  /** One command, sent to the node that owns `key` (a session key is binary). Bulk strings come back as Buffers. */
  send(key: RedisArgument, args: RedisArgument[]): Promise<unknown>;
  /**
   * Runs a Lua script on the node that owns `key`, or the first of `keys`
   * (several only where they share a slot, or on a standalone server).
   */
  run(
    script: Script,
    keys: RedisArgument | readonly RedisArgument[],
    args: RedisArgument[],
  ): Promise<unknown>;
  /** Whether `error` is Redis not knowing a script by its SHA-1 (NOSCRIPT), so its source must be sent. */
  isScriptMissing(error: unknown): boolean;
  close(): Promise<void>;
}

export interface ConnectionOptions {
  url?: string;
  cluster?: { rootNodes: readonly string[] };
  commandTimeout: number;
  connectTimeout: number;
}

/**
 * node-redis's own command timeout (5 s by default) covers only the wait
 * before a command is written, at the price of an `AbortSignal.timeout` and a
 * listener for each command, which cost more than the rest of a GET's work in
 * the client. The wait here is bounded as a whole instead (see `connection`),
 * and while commands are timing out the same bound drops one still unwritten.
 */
const COMMAND_OPTIONS = { timeout: 0 };

/** Server replies that mean "not now" rather than "wrong command". */
const TRANSIENT_REPLY = /^(CLUSTERDOWN|LOADING|TRYAGAIN|MASTERDOWN|BUSY|READONLY|OOM)\b/;

/** How the driver's errors read: which mean Redis is out of reach, which a missing script. */
interface DriverErrors {
  isScriptMissing(error: unknown): boolean;
  /** Connection failures and time-outs become StoreUnavailableError; anything else passes through. */
  unavailable(error: unknown): unknown;
}

/**
 * `Redis at host:port (purpose)`, or `Redis cluster at …` for the first root
 * node, for messages. Never the password.
 */
export function redisServerName(
  target: { url?: string; rootNodes?: readonly string[] },
  purpose: string,
): string {
  const url = target.url ?? target.rootNodes?.[0];
  let address = 'localhost:6379';
  try {
    if (url) {
      const parsed = new URL(url);
      address = `${parsed.hostname || 'localhost'}:${parsed.port || 6379}`;
    }
  } catch {
    // The driver refuses such a URL itself.
  }
  return `Redis${target.rootNodes ? ' cluster' : ''} at ${address} (${purpose})`;
}

function driverErrors(redis: RedisDriver, server: string): DriverErrors {
  const connectionErrors = [
    redis.ClientClosedError,
    redis.ClientOfflineError,
    redis.ConnectionTimeoutError,
    redis.DisconnectsClientError,
    redis.MaxCommandRedirectionsError,
    redis.ReconnectStrategyError,
    redis.RootNodesUnavailableError,
    redis.SocketClosedUnexpectedlyError,
    redis.SocketTimeoutError,
    redis.TimeoutError,
  ];
  return {
    isScriptMissing: (error) =>
      error instanceof redis.ErrorReply && error.message.startsWith('NOSCRIPT'),
    unavailable(error) {
      const isUnavailable =
        error instanceof redis.ErrorReply
          ? TRANSIENT_REPLY.test(error.message)
          : connectionErrors.some((type) => error instanceof type) || isSystemError(error);
      if (!isUnavailable) return error;
      return storeUnavailable(server, error);
    },
  };
}

/**
 * Connects within `connectTimeout`; after that the client reconnects on its
 * own, forever, with jittered exponential backoff. The offline queue is off,
 * so while Redis is unreachable a command fails at once instead of waiting
 * for a reconnect, and a command Redis does not answer fails after
 * `commandTimeout`; both surface as StoreUnavailableError.
 *
 * node-redis's own command timeout stops at the socket: once a command is
 * written it waits for its reply forever (dropping it would misalign the
 * replies after it). So the wait for the reply is bounded here instead; a
 * reply that comes later is read and thrown away, and the replies after it
 * stay in step. Once commands time out, one not yet written when its wait
 * ends (a socket that does not drain) is dropped, so a silent server holds on
 * to no more than the commands of the first `commandTimeout` of its silence.
 */
export async function openConnection(options: ConnectionOptions): Promise<Connection> {
  const redis = await loadRedis();
  const server = redisServerName(
    { url: options.url, rootNodes: options.cluster?.rootNodes },
    'sessions',
  );
  const errors = driverErrors(redis, server);
  // Binary-safe replies: values and index members are bytes, not text.
  const replies = { typeMapping: { [redis.RESP_TYPES.BLOB_STRING]: Buffer } };
  const socket: SocketOptions = {
    connectTimeout: options.connectTimeout,
    reconnectStrategy: (retries: number) =>
      Math.min(50 * 2 ** retries, 2000) + Math.floor(Math.random() * 100),
  };
  if (options.cluster) {
    const cluster = await connectRedisCluster(
      options.cluster.rootNodes,
      'sessions',
      socket,
      COMMAND_OPTIONS,
    );
    return connection(
      (key, args, abortSignal) =>
        cluster.sendCommand(key, false, args, abortSignal ? { ...replies, abortSignal } : replies),
      () => cluster.close(),
      () => cluster.destroy(),
      options.commandTimeout,
      errors,
      server,
    );
  }
  const client = redis.createClient({
    url: options.url,
    socket,
    disableOfflineQueue: true,
    commandOptions: COMMAND_OPTIONS,
  });
  await connectOrFail(client, 'sessions', options.connectTimeout);
  return connection(
    (_key, args, abortSignal) =>
      client.sendCommand(args, abortSignal ? { ...replies, abortSignal } : replies),
    () => client.close(),
    () => client.destroy(),
    options.commandTimeout,
    errors,
    server,
  );
}

/**
 * A connected cluster client, with the root nodes' credentials and TLS given
 * to every node it discovers, and no offline queue (commands fail at once
 * while a node is unreachable). `purpose` names it in connection errors;
 * `commandOptions` replace node-redis's defaults for every command.
 */
export async function connectRedisCluster(
  rootNodes: readonly string[],
  purpose: string,
  socket: SocketOptions = {
    connectTimeout: 5000,
    reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000),
  },
  commandOptions?: typeof COMMAND_OPTIONS,
) {
  const redis = await loadRedis();
  const cluster = redis.createCluster({
    rootNodes: rootNodes.map((url) => ({ url })),
    commandOptions,
    // Discovered nodes take their settings from `defaults` only, so credentials and TLS go there.
    defaults: nodeDefaults(rootNodes, socket),
  });
  await connectOrFail(
    cluster,
    purpose,
    socket.connectTimeout,
    redisServerName({ rootNodes }, purpose),
  );
  return cluster;
}

function nodeDefaults(rootNodes: readonly string[], socket: SocketOptions) {
  const first = rootNodes[0];
  if (first === undefined) throw new ConfigError('a Redis cluster needs at least one root node');
  const url = new URL(first);
  return {
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    socket: url.protocol === 'rediss:' ? { ...socket, tls: true as const } : socket,
    disableOfflineQueue: true,
  };
}

interface SocketOptions {
  connectTimeout: number;
  reconnectStrategy: (retries: number) => number;
}

function connection(
  send: (
    key: RedisArgument,
    args: RedisArgument[],
    signal: AbortSignal | undefined,
  ) => Promise<unknown>,
  close: () => Promise<void>,
  destroy: () => void,
  timeout: number,
  errors: DriverErrors,
  server: string,
): Connection {
  let closed = false;
  const deadline = new Deadline(timeout);
  const timedOut = () => new StoreUnavailableError(`${server} did not answer within ${timeout} ms`);
  const bounded = (key: RedisArgument, args: RedisArgument[]) =>
    deadline.bound((signal) => send(key, args, signal), timedOut);
  const rethrowUnavailable = (error: unknown): never => {
    throw errors.unavailable(error);
  };
  const sendMapped = (key: RedisArgument, args: RedisArgument[]) =>
    bounded(key, args).catch(rethrowUnavailable);
  return {
    send: sendMapped,
    async run(script, keys, args) {
      const all = Array.isArray(keys) ? keys : [keys as RedisArgument];
      const key = all[0] as RedisArgument;
      const tail = [String(all.length), ...all, ...args];
      try {
        return await bounded(key, ['EVALSHA', script.sha, ...tail]);
      } catch (error) {
        if (!errors.isScriptMissing(error)) throw errors.unavailable(error);
      }
      return sendMapped(key, ['EVAL', script.source, ...tail]);
    },
    isScriptMissing: errors.isScriptMissing,
    async close() {
      if (closed) return;
      closed = true;
      // A graceful close waits for replies in flight; a server that is down gets no such wait.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        close().catch(() => {}),
        new Promise((resolve) => {
          timer = setTimeout(resolve, timeout);
        }),
      ]);
      clearTimeout(timer);
      destroy();
    },
  };
}

/** ECONNREFUSED, ECONNRESET, EHOSTUNREACH and the like, from the socket. */
function isSystemError(error: unknown): boolean {
  return error instanceof Error && /^E[A-Z]+$/.test(String((error as { code?: unknown }).code));
}

/** The part of any node-redis client (standalone or cluster) this needs. */
interface Connectable {
  readonly options?: { url?: string };
  connect(): Promise<unknown>;
  destroy(): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/**
 * Connects within `timeout` ms or fails with StoreUnavailableError naming
 * the server, `purpose`, and the last reason the connection failed (`server`
 * names a cluster, whose client does not tell its nodes). node-redis retries
 * a refused first connection forever; a caller starting up wants an answer
 * instead, and reconnection after a later outage stays the client's job.
 */
export async function connectOrFail(
  client: Connectable,
  purpose: string,
  timeout = 5_000,
  server = redisServerName({ url: client.options?.url }, purpose),
): Promise<void> {
  let lastFailure: Error | undefined;
  // Failures surface per command; without a listener they would crash the process.
  client.on('error', (error) => {
    lastFailure = error;
  });
  try {
    await withTimeout(
      client.connect(),
      timeout,
      () => new Error(`no connection within ${timeout} ms`, { cause: lastFailure }),
    );
  } catch (error) {
    client.destroy();
    throw storeUnavailable(server, error);
  }
}

/**
 * Runs one Redis command and waits at
 * most `timeout` ms for its answer: once a command is written, node-redis
 * waits for the reply forever. Any failure to get an answer is
 * StoreUnavailableError naming `server`, such as `Redis at host:6379 (leases)`
 * (see `redisServerName`).
 */
export async function redisCommand<T>(
  server: string,
  command: () => Promise<T>,
  timeout = 2_000,
): Promise<T> {
  try {
    return await withTimeout(command(), timeout, () => new Error(`no answer within ${timeout} ms`));
  } catch (error) {
    throw storeUnavailable(server, error);
  }
}
