import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { bashCompletion } from '../../src/cli/completion.js';
import { createProgram } from '../../src/cli/program.js';

const script = bashCompletion(
  createProgram({ stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }),
);

/** What bash offers after `typed` (the last word is the one being completed). */
async function complete(typed: string): Promise<string[]> {
  const words = ['clawsession', ...typed.split(' ')];
  const { stdout } = await promisify(execFile)('bash', [
    '-c',
    `${script}
COMP_WORDS=(${words.map((word) => `'${word}'`).join(' ')})
COMP_CWORD=${words.length - 1}
_clawsession
printf '%s\\n' "\${COMPREPLY[@]}"`,
  ]);
  return stdout.split('\n').filter(Boolean).sort();
}

describe('clawsession completion', () => {
  it('completes commands, subcommands and the options of the command typed so far', async () => {
    expect(await complete('')).toEqual(
      [
        'audit',
        'completion',
        'config',
        'events',
        'keys',
        'migrate',
        'secrets',
        'serve',
        'sweep',
        'users',
        'version',
        '--help',
        '--version',
      ].sort(),
    );
    expect(await complete('keys ')).toEqual([
      '--help',
      'create',
      'list',
      'revoke',
      'rotate',
      'show',
    ]);
    expect(await complete('users s')).toEqual(['set-password', 'set-roles']);
    expect(await complete('events ')).toEqual(['--help', 'redeliver', 'resume', 'status']);
    expect(await complete('events redeliver --s')).toEqual(['--sink', '--store']);
    expect(await complete('keys create --owner billing --s')).toEqual(['--scope', '--store']);
    expect(await complete('users add alice --r')).toEqual(['--roles']);
    expect(await complete('serve --p')).toEqual(['--port']);
  });
});
