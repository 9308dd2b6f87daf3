import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { constantTimeEqual, SessionManager } from '../core/index.js';
import { HttpError, toErrorResponse } from '../http/index.js';
import { openSweepLease } from '../stores/index.js';
import { type GatewayConfig, openConfiguredStore } from './config.js';
import { registerSessionRoutes } from './session-routes.js';

export interface Gateway {
  app: FastifyInstance;
  manager: SessionManager;
  /** The bearer credential for /v1, from config or generated for this run. */
  adminToken: string;
  adminTokenGenerated: boolean;
  /** Listens and resolves with the address, e.g. `http://127.0.0.1:8080`. */
  listen(): Promise<string>;
  /** Stops accepting, lets in-flight requests finish, then closes the store. */
  close(): Promise<void>;
}

/** Builds the gateway from a validated config: store, manager, routes, sweeper. */
export async function createGateway(config: GatewayConfig): Promise<Gateway> {
  const store = await openConfiguredStore(config.store, config);
  const lease = await openSweepLease(config.store);
  const manager = new SessionManager({
    store,
    idleTimeout: config.idleTimeout,
    absoluteTimeout: config.absoluteTimeout,
    touchThreshold: config.touchThreshold,
  });
  const adminToken = config.adminToken ?? randomBytes(32).toString('base64url');

  const app = Fastify({
    logger: { level: config.logLevel },
    bodyLimit: config.bodyLimit,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  manager.on('error', ({ error }) =>
    app.log.error({ err: error }, 'background session work failed'),
  );

  // Only JSON bodies are part of this API; anything else is a 415, not a string to validate.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(
    'application/json-patch+json',
    { parseAs: 'string' },
    app.getDefaultJsonParser('error', 'error'),
  );
  app.setErrorHandler((error, request, reply) => {
    const { status, body } = toErrorResponse(error);
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const { status, body } = toErrorResponse(
      new HttpError(
        'ERR_ROUTE_NOT_FOUND',
        `no route for ${request.method} ${request.url.split('?')[0]}`,
      ),
    );
    return reply.code(status).send(body);
  });

  // While shutting down, in-flight responses close their connection instead of idling on keep-alive.
  let closing = false;
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.register(async (v1) => {
    v1.addHook('onRequest', async (request, reply) => {
      reply.header('cache-control', 'no-store');
      const header = request.headers.authorization ?? '';
      const presented = /^Bearer (\S+)$/i.exec(header)?.[1];
      if (!presented || !constantTimeEqual(presented, adminToken)) {
        reply.header('www-authenticate', 'Bearer realm="clawsession"');
        throw new HttpError('ERR_UNAUTHORIZED', 'a valid bearer credential is required');
      }
    });
    registerSessionRoutes(v1, manager);
  });

  let sweeping = false;
  const sweeper = setInterval(async () => {
    if (sweeping) return;
    sweeping = true;
    try {
      const outcome = lease
        ? await lease.run('sweep', () => manager.sweepExpired())
        : { acquired: true as const, value: await manager.sweepExpired() };
      if (outcome.acquired && outcome.value > 0)
        app.log.info({ swept: outcome.value }, 'swept expired sessions');
    } catch (error) {
      app.log.error({ err: error }, 'sweeping expired sessions failed');
    } finally {
      sweeping = false;
    }
  }, config.sweepInterval);
  sweeper.unref();

  return {
    app,
    manager,
    adminToken,
    adminTokenGenerated: config.adminToken === undefined,
    async listen() {
      const address = await app.listen({ host: config.host, port: config.port });
      return address;
    },
    async close() {
      closing = true;
      clearInterval(sweeper);
      await app.close();
      await manager.close();
      await lease?.close();
    },
  };
}
