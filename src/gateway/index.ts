export * from './auth/index.js';
export {
  type ConfigSources,
  configSchema,
  envName,
  type GatewayConfig,
  type GatewayConfigInput,
  loadConfig,
  openConfiguredStore,
  parseConfig,
} from './config.js';
export { eventSinksOf } from './event-relay.js';
export { applyApiDefaults, parseInput } from './fastify-defaults.js';
export { generateFleetSecrets } from './fleet-secrets.js';
export { type HealthOptions, pingStore, registerHealthRoutes } from './health.js';
export {
  type Authenticate,
  type AuthenticatorOptions,
  createAuthenticator,
  type GatewayIdentity,
  REQUEST_ANSWERED,
} from './identity.js';
export { presentApiKey, registerKeyRoutes } from './key-routes.js';
export { echoRequestId, loggerOptions, redactQuerySecrets, requestIdOptions } from './logging.js';
export {
  GatewayMetrics,
  type GatewayMetricsOptions,
  type KeyVerificationResult,
} from './metrics.js';
export {
  countMigration,
  GATEWAY_COLLECTIONS,
  type MigrateOptions,
  type MigrationCounts,
  type MigrationProgress,
  migrateGateway,
  NothingToMigrateError,
} from './migrate.js';
export { type ProxyOptions, registerProxy } from './proxy.js';
export type { ProxyRoute } from './proxy-routes.js';
export { normalizedPathOptions, refuseInvalidPaths } from './request-paths.js';
export { createGateway, type Gateway, type GatewayOptions } from './server.js';
export { principalOf, type ServicePrincipal, serviceAuth } from './service-auth.js';
export { presentSession } from './session-routes.js';
export { openSessionStore } from './session-store.js';
export { openKeyInvalidationBus } from './shared-services.js';
export { type SweepCounts, sweepExpired, underSweepLease } from './sweeper.js';
