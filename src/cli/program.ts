import { Command, CommanderError } from 'commander';
import { envName } from '../gateway/index.js';
import { auditCommand } from './audit.js';
import { commandPath, everyCommand } from './command-tree.js';
import { completionCommand } from './completion.js';
import { configCommand } from './config.js';
import { eventsCommand } from './events.js';
import { type CliIo, processIo } from './io.js';
import { keysCommand } from './keys.js';
import { migrateCommand } from './migrate.js';
import { secretsCommand } from './secrets.js';
import { serveCommand } from './serve.js';
import { sweepCommand } from './sweep.js';
import { UsageError } from './usage-error.js';
import { usersCommand } from './users.js';
import { version } from './version.js';

const MORE_HELP = `
Store URLs (--store, --from, --to, ${envName('store')}):
  sqlite:<path>          one SQLite file, for one gateway (the default is
                         sqlite:./data/clawsession.db; sqlite::memory: keeps
                         no file)
  memory:[?max=<n>]      this process only, gone when it exits
  redis://[user:password@]host:port[/db][?prefix=cs:]
                         Redis (rediss:// for TLS); keys start with the prefix
  redis+cluster://[user:password@]host:port,host:port[?prefix=cs:]
                         some nodes of a Redis Cluster
  postgres://user[:password]@host:5432/db[?schema=&table=&recordsTable=]
                         PostgreSQL (or postgresql://); other parameters go to
                         the driver
  tiered:<hot url>|<durable url>
                         a hot store (Redis) in front of a durable one
                         (PostgreSQL)

Configuration: every command reads it as serve does: defaults, then the file
of --config or ${envName('config')}, then one variable per setting
(${envName('store')}, ${envName('port')}…), then flags.
Output: text for people; --json prints one JSON document for scripts.
Errors: one line on stderr; exit code 2 for a refused command line, config or
request, 1 for an unexpected failure.
clawsession <command> --help (or clawsession help <command>) shows its options.
`;

/** The `clawsession` command tree, talking through `io`. */
export function createProgram(io: CliIo): Command {
  const program = new Command('clawsession')
    .usage('<command> [options]')
    .description(
      'Session persistence for distributed TypeScript services: the gateway and the tools around it.',
    )
    .version(version(), '--version', 'print the version')
    .addCommand(serveCommand())
    .addCommand(migrateCommand(io))
    .addCommand(sweepCommand(io))
    .addCommand(auditCommand(io))
    .addCommand(eventsCommand(io))
    .addCommand(keysCommand(io))
    .addCommand(usersCommand(io))
    .addCommand(secretsCommand(io))
    .addCommand(configCommand(io))
    .addCommand(
      new Command('version').description('Print the version').action(() => {
        io.stdout.write(`${version()}\n`);
      }),
    )
    .addHelpText('after', MORE_HELP);
  program.addCommand(completionCommand(io, program));
  for (const command of everyCommand(program)) {
    if (command.commands.length > 0)
      command.helpCommand('help [command]', 'Show the help of a command');
    command
      .helpOption('-h, --help', 'show this help')
      .configureOutput({
        writeOut: (text) => io.stdout.write(text),
        // Errors are thrown (below) and printed once, as one line, by the caller.
        writeErr: () => undefined,
        outputError: () => undefined,
        getOutHelpWidth: () => io.stdout.columns ?? 80,
      })
      .exitOverride((error) => {
        throw error.exitCode === 0 ? error : usageError(error, command);
      });
  }
  return program;
}

/**
 * Runs the command line `argv` (without the node and script paths). A
 * command line it cannot run throws UsageError; a failing command throws its
 * own error. Help and the version are printed and resolve.
 */
export async function runCli(argv: string[], io: CliIo = processIo()): Promise<void> {
  try {
    await createProgram(io).parseAsync(argv.length === 0 ? ['--help'] : argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError && error.exitCode === 0) return;
    throw error;
  }
}

/** Commander's complaint as one line that names the problem and where the help is. */
function usageError(error: CommanderError, command: Command): UsageError {
  return new UsageError(`${problemOf(error, command)} (see ${commandPath(command)} --help)`);
}

function problemOf(error: CommanderError, command: Command): string {
  // Commander shows the help as an error for `help <unknown>` and for a group without its subcommand.
  const unknown =
    error.code === 'commander.unknownCommand'
      ? command.args[0]
      : error.code === 'commander.help' && command.args[0] === 'help'
        ? command.args[1]
        : undefined;
  if (unknown !== undefined) return `unknown command '${unknown}': use ${choicesOf(command)}`;
  if (error.code === 'commander.help')
    return `${command.name()} needs a subcommand: ${choicesOf(command)}`;
  return error.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
}

/** `keys create, keys list … or keys revoke`: the commands below a group, as they are typed. */
function choicesOf(group: Command): string {
  const prefix = commandPath(group).split(' ').slice(1).join(' ');
  const words = group.commands.map((sub) => (prefix ? `${prefix} ${sub.name()}` : sub.name()));
  return words.length > 1 ? `${words.slice(0, -1).join(', ')} or ${words.at(-1)}` : `${words[0]}`;
}
