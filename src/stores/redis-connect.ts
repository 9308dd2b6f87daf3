import { StoreUnavailableError, withTimeout } from '../core/index.js';

/** The part of any node-redis client (standalone or cluster) this needs. */
interface Connectable {
  connect(): Promise<unknown>;
  destroy(): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/**
 * Connects within `timeout` ms or fails with StoreUnavailableError. node-redis
 * retries a refused first connection forever; a caller starting up wants an
 * answer instead, and reconnection after a later outage stays the client's job.
 */
export async function connectOrFail(
  client: Connectable,
  what: string,
  timeout = 5_000,
): Promise<void> {
  client.on('error', () => {}); // failures surface per command; without a listener they would crash the process
  try {
    await withTimeout(
      client.connect(),
      timeout,
      () => new Error(`no connection within ${timeout} ms`),
    );
  } catch (error) {
    client.destroy();
    throw new StoreUnavailableError(`cannot reach Redis for ${what}`, { cause: error });
  }
}

/**
 * Runs one Redis command and waits at most `timeout` ms for its answer: once
 * a command is written, node-redis waits for the reply forever. Any failure to
 * get an answer is StoreUnavailableError.
 */
export async function redisCommand<T>(
  what: string,
  command: () => Promise<T>,
  timeout = 2_000,
): Promise<T> {
  try {
    return await withTimeout(
      command(),
      timeout,
      () => new Error(`Redis did not answer within ${timeout} ms`),
    );
  } catch (error) {
    throw new StoreUnavailableError(`Redis did not answer a ${what} command`, { cause: error });
  }
}
