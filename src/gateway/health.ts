import type { FastifyInstance } from 'fastify';
import { type SessionStore, withTimeout } from '../core/index.js';
import { HttpError, toErrorResponse } from '../http/index.js';

export interface HealthOptions {
  /** Resolves when the gateway can serve: its store answers. See `pingStore`. */
  ready: () => Promise<void>;
  /** Longest `/readyz` waits for `ready`, in ms, before it answers 503. Default 2,000. */
  readyTimeout?: number;
}

/** An id no session has (ids are SHA-256 hashes), for a look-up that can only miss. */
const UNUSED_ID = '0'.repeat(64);

/**
 * The cheapest proof that a store answers: one look-up of an id that is
 * never a session, one primary-key read in SQL and one GET in Redis,
 * whatever the number of sessions (counting them would grow with it). A
 * tiered store asks its durable tier too, and stays ready while only its hot
 * tier is down, as it keeps serving then.
 */
export function pingStore(store: SessionStore): () => Promise<void> {
  return async () => {
    await store.get(UNUSED_ID, Date.now());
  };
}

/**
 * `GET /healthz`: the process is up, always 200. `GET /readyz`: 200 when
 * `ready` resolves within the timeout, else 503 `ERR_NOT_READY`; why is
 * logged, not told to the prober.
 */
export function registerHealthRoutes(app: FastifyInstance, options: HealthOptions): void {
  const timeout = options.readyTimeout ?? 2_000;
  app.get('/healthz', async () => {
    return { status: 'ok' };
  });
  app.get('/readyz', async (request, reply) => {
    try {
      await withTimeout(
        options.ready(),
        timeout,
        () => new Error(`not ready within ${timeout} ms`),
      );
      return { status: 'ready' };
    } catch (error) {
      request.log.warn({ err: error }, 'readiness check failed');
      const { status, body } = toErrorResponse(
        new HttpError('ERR_NOT_READY', 'the session store is not answering'),
      );
      return reply.code(status).send(body);
    }
  });
}
