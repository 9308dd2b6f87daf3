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
export { createGateway, type Gateway } from './server.js';
export { presentSession } from './session-routes.js';
