#!/usr/bin/env node
import { ClawsessionError } from '../core/index.js';
import { configCommand } from './config.js';
import { keys } from './keys.js';
import { migrate } from './migrate.js';
import { serve } from './serve.js';
import { users } from './users.js';
import { version } from './version.js';

const USAGE = `Usage: clawsession <command> [options]

Commands:
  serve       Run the gateway (the embedded SQLite store by default)
  migrate     Copy the gateway's state (sessions, users, API keys, refresh families,
              revoked tokens) from one store to another
  keys        API keys for internal services: create | list | rotate <prefix> | revoke <prefix>
              (clawsession keys alone prints the options)
  users       Built-in users: add <name> [--roles a,b] [--password-stdin] | remove <name>
              | set-roles <name> --roles a,b | list
              (--store <url> or --config <file>; the password is asked for, or read from stdin)
  config      config check <file>: validate a config file (with the environment) without starting
  version     Print the version
  help        Show this help

Options for serve (each also read from the environment variable shown):
  --config <file>        JSON or YAML config file          CLAWSESSION_CONFIG
  --host <host>          Address to bind (127.0.0.1)       CLAWSESSION_HOST
  --port <port>          Port, 0 picks a free one (8080)   CLAWSESSION_PORT
  --store <url>          sqlite:<path> | memory:           CLAWSESSION_STORE
  --admin-token <token>  Bearer credential for /v1         CLAWSESSION_ADMIN_TOKEN
  --log-level <level>    fatal|error|warn|info|debug|trace|silent   CLAWSESSION_LOG_LEVEL

Options for migrate:
  --from <url>           Source store URL (keeps serving while copying)
  --to <url>             Target store URL
  --batch-size <n>       Sessions per batch (500)
  --state <file>         Progress file: resume from it, rewrite it after every batch
  --config <file>        Config file for the codec and encryption keys of both stores
  --dry-run              Count the sessions and records that would move; write nothing
  --allow-empty          Go on when the source holds nothing (else an error)
  --live                 Move rather than copy, for gateways serving on migrating:<from>|<to>
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      await serve(rest);
      return 0;
    case 'migrate':
      await migrate(rest);
      return 0;
    case 'keys':
      await keys(rest);
      return 0;
    case 'users':
      await users(rest);
      return 0;
    case 'config':
      await configCommand(rest);
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
