#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ClawsessionError } from '../core/index.js';
import { createGateway, loadConfig } from '../gateway/index.js';

const USAGE = `Usage: clawsession <command> [options]

Commands:
  serve       Run the session server (the embedded SQLite store by default)
  version     Print the version
  help        Show this help

Options for serve (each also read from the environment variable shown):
  --config <file>        JSON or YAML config file          CLAWSESSION_CONFIG
  --host <host>          Address to bind (127.0.0.1)       CLAWSESSION_HOST
  --port <port>          Port, 0 picks a free one (8080)   CLAWSESSION_PORT
  --store <url>          sqlite:<path> | memory:           CLAWSESSION_STORE
  --admin-token <token>  Bearer credential for /v1         CLAWSESSION_ADMIN_TOKEN
  --log-level <level>    fatal|error|warn|info|debug|trace|silent   CLAWSESSION_LOG_LEVEL
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

async function serve(args: string[]): Promise<void> {
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
  const storeShown = config.store.replace(/\/\/[^@/]*@/, '//***@');
  process.stdout.write(`clawsession ${version()} listening on ${address} (store ${storeShown})\n`);
  if (gateway.adminTokenGenerated) {
    process.stdout.write(
      `admin token, generated for this run and shown once (set CLAWSESSION_ADMIN_TOKEN to choose one): ${gateway.adminToken}\n`,
    );
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      await serve(rest);
      return 0;
    case 'version':
    case '--version':
      process.stdout.write(`${version()}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(`clawsession: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exit(code);
  },
  (error: unknown) => {
    const known =
      error instanceof ClawsessionError ||
      (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(
      `clawsession: ${known ? (error as Error).message : (error as Error).stack}\n`,
    );
    process.exit(known ? 2 : 1);
  },
);
