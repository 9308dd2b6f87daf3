import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { applyApiDefaults } from './fastify-defaults.js';
import type { GatewayMetrics } from './metrics.js';
import { type RequestTimeouts, requestTimeoutServerOptions } from './request-timeouts.js';

/** Where the metrics listener listens: `metrics` in the gateway's config. */
export interface MetricsListenerAddress {
  host: string;
  port: number;
}

/**
 * A server of its own that answers only `GET /metrics`, without any
 * credential, for a scraper on a private network that should hold none: the
 * network is the guard, so it listens on loopback unless told otherwise.
 * Its scrapes are not counted in the HTTP metrics, which are the gateway's
 * traffic. Listen with `listenMetrics`; close it with the gateway.
 */
export function createMetricsListener(
  metrics: GatewayMetrics,
  options: { log: FastifyBaseLogger; timeouts: RequestTimeouts },
): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.log.child({ listener: 'metrics' }),
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: 'idle',
    ...requestTimeoutServerOptions(options.timeouts),
  });
  applyApiDefaults(app);
  metrics.serve(app);
  return app;
}

/** Listens and resolves with the address, logging one line that says what is served there. */
export function listenMetrics(
  app: FastifyInstance,
  address: MetricsListenerAddress,
): Promise<string> {
  return app.listen({
    host: address.host,
    port: address.port,
    listenTextResolver: (origin) => `metrics served without auth on ${origin}/metrics`,
  });
}
