import { parseArgs } from 'node:util';
import { createGateway, loadConfig } from '../gateway/index.js';
import { redactUrl } from '../stores/index.js';
import { version } from './version.js';

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
  const gateway = await createGateway(config);

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

  const address = await gateway.listen();
  const storeShown = redactUrl(config.store);
  process.stdout.write(`clawsession ${version()} listening on ${address} (store ${storeShown})\n`);
  for (const warning of gateway.warnings) gateway.app.log.warn(warning);
  if (gateway.adminTokenGenerated) {
    process.stdout.write(
      `admin token, generated for this run and shown once (set CLAWSESSION_ADMIN_TOKEN to choose one): ${gateway.adminToken}\n`,
    );
  }
}
