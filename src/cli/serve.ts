import { parseArgs } from 'node:util';
import { redactUrl } from '../core/index.js';
import { createGateway, loadConfig } from '../gateway/index.js';
import { version } from './version.js';

/** Log levels at which Fastify's own info line announces the address. */
const INFO_SHOWN = new Set(['trace', 'debug', 'info']);

/** `clawsession serve`: runs the gateway until SIGTERM or SIGINT. */
export async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      store: { type: 'string' },
      'admin-token': { type: 'string' },
      'log-level': { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  const config = loadConfig({
    file: values.config,
    env: process.env,
    overrides: {
      host: values.host,
      port: values.port,
      store: values.store,
      adminToken: values['admin-token'],
      logLevel: values['log-level'],
    },
  });
  // Every line the gateway prints is one JSON object, Node's own warnings too
  // (those emitted while the gateway is built are logged once it exists).
  const early: Error[] = [];
  let logWarning = (warning: Error): void => {
    early.push(warning);
  };
  process.removeAllListeners('warning');
  process.on('warning', (warning) => logWarning(warning));
  const gateway = await createGateway(config);
  logWarning = (warning) => {
    const { code } = warning as Error & { code?: string };
    gateway.app.log.warn({ warning: warning.name, code }, warning.message);
  };
  early.forEach(logWarning);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    gateway.app.log.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      gateway.app.log.error('shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeout);
    deadline.unref();
    gateway.close().then(
      () => process.exit(0),
      (error: unknown) => {
        gateway.app.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  const storeShown = redactUrl(config.store);
  const listening = (address: string) =>
    `clawsession ${version()} listening on ${address} (store ${storeShown})`;
  // Fastify logs the address at info; where and with what key it runs is shown at any log level.
  const announce = gateway.app.log.child({}, { level: 'info' });
  const address = await gateway.listen({ message: listening });
  if (!INFO_SHOWN.has(config.logLevel)) announce.info(listening(address));
  for (const warning of gateway.warnings) gateway.app.log.warn(warning);
  if (gateway.adminTokenGenerated) {
    announce.info(
      { adminToken: gateway.adminToken },
      'admin token, generated for this run and shown once (set CLAWSESSION_ADMIN_TOKEN to choose one)',
    );
  }
}
