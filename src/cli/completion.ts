import { Command } from 'commander';
import { commandPath, everyCommand } from './command-tree.js';
import type { CliIo } from './io.js';

/** `clawsession completion`: a bash completion script for the command tree of `program`. */
export function completionCommand(io: CliIo, program: Command): Command {
  return new Command('completion')
    .description('Print a bash completion script for commands and options')
    .addHelpText(
      'after',
      `
Try it:  source <(clawsession completion)
Keep it: save the output as clawsession in bash-completion's folder,
  ~/.local/share/bash-completion/completions
In zsh, run first: autoload -U +X bashcompinit && bashcompinit
`,
    )
    .action(() => {
      io.stdout.write(bashCompletion(program));
    });
}

/**
 * Completes the subcommands and options of the command named by the words
 * typed so far (words that name no subcommand, such as option values, are
 * passed over). Generated from the tree, so a new command completes too.
 */
export function bashCompletion(program: Command): string {
  const commands = everyCommand(program);
  const key = (command: Command) => commandPath(command).split(' ').slice(1).join('/');
  const choices = (command: Command) =>
    [
      ...command.commands.map((sub) => sub.name()),
      ...command.options.flatMap((option) => (option.long ? [option.long] : [])),
      '--help',
    ].join(' ');
  const known = commands.slice(1).map((command) => `/${key(command)}`);
  const cases = commands.map(
    (command) => `    '${key(command) && `/${key(command)}`}') choices='${choices(command)}' ;;`,
  );
  return `# bash completion for clawsession (in zsh, first: autoload -U +X bashcompinit && bashcompinit)
_clawsession() {
  local node='' word choices=''
  for word in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    case "$node/$word" in
      ${known.join('|')}) node="$node/$word" ;;
    esac
  done
  case "$node" in
${cases.join('\n')}
  esac
  COMPREPLY=($(compgen -W "$choices" -- "\${COMP_WORDS[COMP_CWORD]}"))
}
complete -F _clawsession clawsession
`;
}
