import { Command } from 'commander';
import { redactUrl } from '../core/index.js';
import { createGateway, envName, loadConfig, parseConfig } from '../gateway/index.js';
import { version } from './version.js';

/** Log levels at which Fastify's own info line announces the address. */
const INFO_SHOWN = new Set(['trace', 'debug', 'info']);

interface ServeOptions {
  config?: string;
  host?: string;
  port?: string;
  store?: string;
  adminToken?: string;
  logLevel?: string;
}

/** `clawsession serve`: runs the gateway until SIGTERM or SIGINT. */
export function serveCommand(): Command {
  const defaults = parseConfig({});
  // Flags are checked with the rest of the config, so a bad one is named as a bad environment value would be.
  return new Command('serve')
    .description('Run the gateway (the embedded SQLite store by default) until SIGTERM or SIGINT')
    .option('--config <file>', `JSON or YAML config file [${envName('config')}]`)
    .option('--host <host>', `address to bind (default ${defaults.host}) [${envName('host')}]`)
    .option(
      '--port <port>',
      `port, 0 picks a free one (default ${defaults.port}) [${envName('port')}]`,
    )
    .option(
      '--store <url>',
      `store URL, one of the forms in clawsession --help (default ${defaults.store}) [${envName('store')}]`,
    )
    .option(
      '--admin-token <token>',
      `bearer credential with every scope for /v1 and /admin (default: generated and printed once) [${envName('adminToken')}]`,
    )
    .option(
      '--log-level <level>',
      `fatal, error, warn, info, debug, trace or silent (default ${defaults.logLevel}) [${envName('logLevel')}]`,
    )
    .addHelpText(
      'after',
      `
Flags win over the environment, which wins over the config file. Every other
setting (idleTimeout, routes, signingKey…) comes from the file or its variable,
such as ${envName('idleTimeout')}=20m; clawsession config check FILE validates
them before a start.
`,
    )
    .action((options: ServeOptions) => serve(options));
}

async function serve(options: ServeOptions): Promise<void> {
  const config = loadConfig({
    file: options.config,
    env: process.env,
    overrides: {
      host: options.host,
      port: options.port,
      store: options.store,
      adminToken: options.adminToken,
      logLevel: options.logLevel,
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
