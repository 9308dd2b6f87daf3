import type { FastifyInstance } from 'fastify';
import { HttpError } from '../http/index.js';

/**
 * From the moment `app` starts closing: a request that still arrives (on a
 * keep-alive connection) is refused with a JSON 503 `ERR_SHUTTING_DOWN`,
 * through the error handler and hooks like any error, and every response
 * closes its connection, so that clients move to another instance while the
 * requests in flight finish. It stands in for Fastify's `return503OnClosing`,
 * whose 503 skips the hooks and has neither a request id nor this API's shape.
 */
export function refuseWhileClosing(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', (_request, _reply, done) => {
    done(closing ? new HttpError('ERR_SHUTTING_DOWN', 'the gateway is shutting down') : undefined);
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
}
