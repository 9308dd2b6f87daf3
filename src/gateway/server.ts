import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import { AnomalyDetector, type AnomalyFlag } from '../anomaly/index.js';
import { defaultInstance, type OutboxEvent, SessionManager } from '../core/index.js';
import { HttpSessions } from '../http/index.js';
import {
  InstrumentedStore,
  openBackend,
  openRecordStore,
  openSweepLease,
} from '../stores/index.js';
import {
  AccessTokens,
  IdentityContexts,
  RecordRefreshFamilyStore,
  RecordTokenDenylist,
  RefreshTokens,
  SigningKeys,
} from '../tokens/index.js';
import { registerAccessLog } from './access-log.js';
import { AnomalyGuard } from './anomaly-guard.js';
import { registerAnomalyRoutes } from './anomaly-routes.js';
import { registerAuditRoutes } from './audit-routes.js';
import {
  LoginChallenges,
  registerAuthRoutes,
  registerUserAdminRoutes,
  UserLifecycle,
} from './auth/index.js';
import type { GatewayConfig } from './config.js';
import { credentialSource } from './credential-source.js';
import { refuseWhileClosing } from './draining.js';
import { gatewayRelay } from './event-relay.js';
import { applyApiDefaults } from './fastify-defaults.js';
import { generateRefreshSecret } from './fleet-secrets.js';
import { pingStore, registerHealthRoutes } from './health.js';
import { createAuthenticator } from './identity.js';
import { registerKeyRoutes } from './key-routes.js';
import { registerLingeringClose } from './lingering-close.js';
import { asyncStdout, echoRequestId, loggerOptions, requestIdOptions } from './logging.js';
import { GatewayMetrics } from './metrics.js';
import { createMetricsListener, listenMetrics } from './metrics-listener.js';
import { protocolErrorOptions } from './protocol-errors.js';
import { registerProxy } from './proxy.js';
import { registerRequestHeadChecks } from './request-head.js';
import { normalizedPathOptions, refuseInvalidPaths } from './request-paths.js';
import { applyRequestTimeouts, requestTimeoutServerOptions } from './request-timeouts.js';
import { serviceAuth } from './service-auth.js';
import { ServiceEventLog } from './service-events.js';
import { registerSessionRoutes } from './session-routes.js';
import { openSessionStore } from './session-store.js';
import { openSharedServices } from './shared-services.js';
import { startSweeper, sweepExpired } from './sweeper.js';
import { fastifyTrustProxy, trustProxyWarning } from './trust-proxy.js';

export interface GatewayOptions {
  /** Epoch milliseconds for sessions, tokens, keys and limits. Default `Date.now`; tests inject one. */
  clock?: () => number;
  /** Where the JSON log lines go. Default stdout; tests pass one to read them. */
  logStream?: { write(line: string): void };
}

export interface Gateway {
  app: FastifyInstance;
  /** The listener of `config.metrics`, serving `GET /metrics` without auth; null when unset. */
  metricsApp: FastifyInstance | null;
  manager: SessionManager;
  /** The root credential, from config or generated for this run; null when turned off. */
  adminToken: string | null;
  adminTokenGenerated: boolean;
  /** Settings that work but should not be left so in production, to print at start. */
  warnings: string[];
  /**
   * Listens and resolves with the address, e.g. `http://127.0.0.1:8080`,
   * logging one line that says so: `message(address)`, or Fastify's own;
   * then the metrics listener, when configured, with a line of its own.
   */
  listen(options?: { message?: (address: string) => string }): Promise<string>;
  /** Stops accepting, lets in-flight requests finish, then closes the stores. Idempotent. */
  close(): Promise<void>;
}

/**
 * Builds the gateway from a validated config: the session store and the
 * records beside it (users, API keys, refresh families, revoked tokens), the
 * user-facing auth API, the service API, the admin API, the reverse proxy,
 * health and metrics.
 */
export async function createGateway(
  config: GatewayConfig,
  options: GatewayOptions = {},
): Promise<Gateway> {
  const clock = options.clock ?? Date.now;
  const warnings: string[] = [];
  // Everything that can refuse the config comes before any connection is opened.
  const signingKeys = config.signingKey
    ? await SigningKeys.fromPrivateJwk(config.signingKey, { clock })
    : await SigningKeys.generate({ clock });
  // Only a store that several gateways can share needs them to share these too.
  const shareable = openBackend(config.store).shared;
  if (!config.signingKey && shareable) {
    warnings.push(
      'signingKey is not set: a key was generated for this process, so identity contexts and access tokens from other gateways will not verify here',
    );
  }
  const refreshSecret = config.refreshSecret ?? generateRefreshSecret();
  if (!config.refreshSecret && shareable) {
    warnings.push(
      'refreshSecret is not set: one was generated for this process, so a refresh token repeated within its grace window on another gateway counts as reuse, and a login challenge issued by another gateway is refused here',
    );
  }
  const trustWarning = trustProxyWarning(config.trustProxy);
  if (trustWarning) warnings.push(trustWarning);
  const adminTokenGenerated = config.adminTokenEnabled && config.adminToken === undefined;
  const adminToken = !config.adminTokenEnabled
    ? null
    : (config.adminToken ?? randomBytes(32).toString('base64url'));

  const metrics: GatewayMetrics = new GatewayMetrics({
    countLiveSessions: () => manager.countLive(),
    sweepInterval: config.sweepInterval,
  });
  const opened = await openBackends(config, {
    clock,
    onRejected: (limiter) => metrics.recordRateLimitRejection(limiter),
  });
  const { store, records, lease, shared } = opened;
  warnings.push(...opened.warnings, ...shared.warnings);
  if (store.poolStats?.()) metrics.observePool(() => store.poolStats?.());
  const manager: SessionManager = new SessionManager({
    store: new InstrumentedStore(store, metrics.storeObserver),
    idleTimeout: config.idleTimeout,
    absoluteTimeout: config.absoluteTimeout,
    touchThreshold: config.touchThreshold,
    maxSessionsPerUser: config.maxSessionsPerUser,
    clock,
  });

  const accessTokens = new AccessTokens({
    keys: signingKeys,
    issuer: config.issuer,
    audience: config.tokenAudience,
    ttl: config.accessTokenTtl,
    denylist: new RecordTokenDenylist(records),
    clock,
  });
  const anomalies = config.anomaly
    ? new AnomalyGuard(
        new AnomalyDetector({
          records,
          manager,
          config: config.anomaly,
          clock,
          onFlag: (flag, event) => announceFlag(flag, event),
        }),
        { absoluteTimeout: config.absoluteTimeout, log: () => app.log },
      )
    : undefined;
  if (anomalies) {
    manager.on('regenerated', ({ session, previousId }) =>
      anomalies.detector.noteRenamed(previousId, session.id),
    );
  }
  /** Every flag: a log line, the metric, and an `anomaly.flagged` event in the store's outbox, if it keeps one. */
  async function announceFlag(flag: AnomalyFlag, event: OutboxEvent): Promise<void> {
    metrics.recordAnomaly(flag.rule, flag.action);
    const { id, rule, reason, score, action, sessionId, userId, network, userAgentFamily } = flag;
    app.log.warn(
      { anomaly: { id, rule, reason, score, action, sessionId, userId, network, userAgentFamily } },
      'anomaly flagged',
    );
    await serviceEvents.append(event);
  }
  const serviceEvents = new ServiceEventLog({
    outbox: store.outbox,
    instance: config.events?.instance ?? defaultInstance(),
    clock,
    log: () => app.log,
  });
  const refreshTokens = new RefreshTokens({
    store: new RecordRefreshFamilyStore(records),
    manager,
    secret: refreshSecret,
    ttl: config.refreshTokenTtl,
    clock,
    onReuse: (reuse) => {
      anomalies?.refreshReused(reuse);
      void serviceEvents.record('refresh.reused', reuse.userId, {
        familyId: reuse.familyId,
        sessionId: reuse.sessionId,
      });
    },
  });
  const contexts = new IdentityContexts({
    keys: signingKeys,
    issuer: config.issuer,
    audience: config.contextAudience,
    ttl: config.contextTtl,
    clock,
  });
  const sessions = new HttpSessions({
    manager,
    cookie: {
      name: config.cookie.name,
      sameSite: config.cookie.sameSite,
      maxAge: config.cookie.maxAge,
      insecureDevelopmentMode: config.cookie.insecureDevelopmentMode,
    },
    csrf: { trustedOrigins: config.trustedOrigins },
    rotation: config.rotation,
  });
  const { credentials, users } = credentialSource(config, records, clock);
  const apiKeys = shared.apiKeys(records);
  const requireScope = serviceAuth({
    apiKeys,
    rootToken: adminToken,
    failureLimiter: shared.serviceAuthLimiter,
    clock,
    onThrottled: () => metrics.recordRateLimitRejection('service-auth-ip'),
    onVerification: (result) => metrics.recordKeyVerification(result),
  });

  const app = Fastify({
    logger: {
      ...loggerOptions(config.logLevel),
      ...(options.logStream || config.logLevel !== 'silent'
        ? { stream: options.logStream ?? asyncStdout() }
        : {}),
    },
    // registerAccessLog writes one line per request instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    ...requestIdOptions(),
    ...normalizedPathOptions(),
    ...protocolErrorOptions(),
    bodyLimit: config.bodyLimit,
    // refuseWhileClosing answers instead, through the hooks and in this API's shape.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    trustProxy: fastifyTrustProxy(config.trustProxy),
    ...requestTimeoutServerOptions(config),
  });
  applyRequestTimeouts(app, config);
  manager.on('error', ({ error }) =>
    app.log.error({ err: error }, 'background session work failed'),
  );
  refuseInvalidPaths(app);
  applyApiDefaults(app);
  registerLingeringClose(app);
  echoRequestId(app);
  registerAccessLog(app);
  registerRequestHeadChecks(app, { maxHeaders: config.maxRequestHeaders });
  refuseWhileClosing(app);
  metrics.register(app, { guard: requireScope('metrics:read') });
  const metricsApp = config.metrics
    ? createMetricsListener(metrics, { log: app.log, timeouts: config })
    : null;

  registerHealthRoutes(app, { ready: pingStore(manager.store) });
  registerAuthRoutes(app, {
    sessions,
    manager,
    credentials,
    accessTokens,
    refreshTokens,
    signingKeys,
    loginLimiter: shared.loginLimiters,
    loginChallenges: new LoginChallenges({
      secret: refreshSecret,
      difficulty: config.rateLimits.loginProofOfWork.difficulty,
      ttl: config.rateLimits.loginProofOfWork.ttl,
      uses: shared.loginChallengeUses,
      clock,
    }),
    anomalies,
    events: serviceEvents,
  });
  registerSessionRoutes(app, manager, requireScope, anomalies);
  app.register(async (admin) => {
    admin.addHook('onRequest', requireScope('keys:admin'));
    registerKeyRoutes(admin, apiKeys, serviceEvents);
  });
  app.register(async (admin) => {
    admin.addHook('onRequest', requireScope('audit:read'));
    registerAuditRoutes(admin, store.outbox, clock);
  });
  if (users) {
    app.register(async (admin) => {
      admin.addHook('onRequest', requireScope('sessions:admin'));
      registerUserAdminRoutes(admin, users, new UserLifecycle({ users, manager }));
    });
  }
  if (anomalies) {
    app.register(async (admin) => {
      admin.addHook('onRequest', requireScope('sessions:admin'));
      registerAnomalyRoutes(admin, anomalies.detector);
    });
  }
  registerProxy(app, {
    routes: config.routes,
    authenticate: createAuthenticator({ sessions, accessTokens, manager, anomalies }),
    contexts,
    sessionCookieName: sessions.cookie.name,
    adminToken,
    publicHost: config.publicHost,
    timeout: config.proxyTimeout,
    onUpstreamResponse: (prefix, status) => metrics.recordUpstreamResponse(prefix, status),
    onCookieDropped: (prefix) => metrics.recordUpstreamCookieDropped(prefix),
  });

  const sweeper = startSweeper({
    interval: config.sweepInterval,
    lease,
    log: app.log,
    sweep: async () => {
      const { sessions, records: removed } = await sweepExpired({ manager, records, clock });
      return sessions + removed;
    },
    onSweep: (result, removed) => metrics.recordSweep(result, removed, clock()),
  });

  const relay =
    config.events && store.outbox
      ? gatewayRelay({
          config: config.events,
          outbox: store.outbox,
          records,
          lease,
          metrics,
          log: () => app.log,
        })
      : null;
  relay?.relay.start();

  let closed: Promise<void> | undefined;
  return {
    app,
    metricsApp,
    manager,
    adminToken,
    adminTokenGenerated,
    warnings,
    async listen(listenOptions = {}) {
      const { message } = listenOptions;
      const address = await app.listen({
        host: config.host,
        port: config.port,
        ...(message ? { listenTextResolver: message } : {}),
      });
      if (metricsApp && config.metrics) await listenMetrics(metricsApp, config.metrics);
      return address;
    },
    close() {
      closed ??= (async () => {
        sweeper.stop();
        await Promise.all([app.close(), metricsApp?.close()]);
        // After the server: the events of the last requests are relayed now or by the next gateway.
        await relay?.close();
        await apiKeys.close();
        await manager.close();
        await records.close();
        await shared.close();
        await lease?.close();
      })();
      return closed;
    },
  };
}

/**
 * Opens the session store, the records beside it, the sweep lease and the
 * shared services, or, when one of them fails, closes those already open.
 */
async function openBackends(
  config: GatewayConfig,
  options: Parameters<typeof openSharedServices>[1],
) {
  const opened: { close(): Promise<unknown> }[] = [];
  try {
    const { store, warning } = await openSessionStore(config);
    opened.push(store);
    const records = await openRecordStore(config.store);
    opened.push(records);
    const lease = await openSweepLease(config.store);
    if (lease) opened.push(lease);
    const shared = await openSharedServices(config, options);
    return { store, records, lease, shared, warnings: warning ? [warning] : [] };
  } catch (error) {
    for (const resource of opened.reverse()) await resource.close().catch(() => undefined);
    throw error;
  }
}
