import { StoreUnavailableError } from '../core/index.js';

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
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no connection within ${timeout} ms`)), timeout);
      }),
    ]);
  } catch (error) {
    client.destroy();
    throw new StoreUnavailableError(`cannot reach Redis for ${what}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}
