import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { commandPath, everyCommand } from '../../src/cli/command-tree.js';
import { createProgram, runCli } from '../../src/cli/program.js';
import {
  memoryBackend,
  postgresBackend,
  redisBackend,
  sqliteBackend,
  tieredBackend,
} from '../../src/stores/index.js';
import { captured, cli } from './support.js';

/** In-process streams, stdout collected. */
function capture() {
  const streams = captured();
  return { io: streams.io, text: streams.stdout };
}

// The tree is read from the program itself, so a command added later is covered without a new row.
const tree = everyCommand(createProgram(capture().io));
const paths = tree.map((command) => commandPath(command).split(' ').slice(1));

describe('clawsession --help', () => {
  it.each(paths.map((path) => [path.join(' ') || '(top level)', path]))(
    '%s: --help prints its usage, and so does the help command of its parent',
    async (_name, path) => {
      const flag = capture();
      await runCli([...path, '--help'], flag.io);
      expect(flag.text()).toMatch(new RegExp(`^Usage: ${['clawsession', ...path].join(' ')} `));
      const asked = capture();
      await runCli([...path.slice(0, -1), 'help', ...path.slice(-1)], asked.io);
      expect(asked.text()).toBe(flag.text());
    },
  );

  it('exits 0 from the real bin for every command and subcommand', async () => {
    // All at once: one process start-up after another outlasts the timeout on a loaded machine.
    const runs = await Promise.all(paths.map((path) => cli([...path, '--help'])));
    for (const [index, run] of runs.entries()) {
      const path = paths[index]?.join(' ');
      expect(run, path).toMatchObject({ code: 0, stderr: '' });
      expect(run.stdout, path).toContain(`Usage: ${['clawsession', path].join(' ').trim()} `);
    }
  }, 60_000);

  it('says what every flag of every command is for', () => {
    for (const command of tree)
      for (const option of command.options)
        expect(option.description, `${commandPath(command)} ${option.flags}`).toMatch(/\w{3}/);
  });

  it("names each serve flag's environment variable", () => {
    const serve = tree.find((command) => command.name() === 'serve');
    const flags = serve?.options.filter((option) => option.long !== '--help') ?? [];
    expect(flags.map((option) => option.long)).toEqual([
      '--config',
      '--host',
      '--port',
      '--store',
      '--admin-token',
      '--log-level',
    ]);
    for (const option of flags) expect(option.description).toMatch(/\[CLAWSESSION_[A-Z_]+\]$/);
  });

  it('lists every store URL scheme at the top level', async () => {
    const top = capture();
    await runCli([], top.io);
    for (const backend of [
      sqliteBackend,
      memoryBackend,
      redisBackend,
      postgresBackend,
      tieredBackend,
    ])
      for (const scheme of backend.schemes) expect(top.text()).toContain(scheme);
    expect(top.text()).toContain('clawsession <command> --help');
  });

  it('is shown in the README as it prints', async () => {
    const top = capture();
    await runCli(['--help'], top.io);
    const readme = readFileSync('README.md', 'utf8');
    expect(readme).toContain(`\`clawsession --help\` prints:\n\n\`\`\`text\n${top.text()}\`\`\`\n`);
  });

  it('prints the version with --version and with the version command', async () => {
    const version = (await cli(['--version'])).stdout;
    expect(version).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect((await cli(['version'])).stdout).toBe(version);
  });
});

describe('a command line clawsession cannot run', () => {
  const cases: [string[], RegExp][] = [
    [['frobnicate'], /^unknown command 'frobnicate': use serve, migrate, .* or completion /],
    [['help', 'frobnicate'], /^unknown command 'frobnicate'/],
    [['keys', 'delete'], /^unknown command 'delete': use keys create, keys list, .*keys revoke /],
    [['keys'], /^keys needs a subcommand: keys create, keys list, keys show, keys rotate or/],
    [['serve', '--bogus'], /^unknown option '--bogus' \(see clawsession serve --help\)$/],
    [['users', 'list', '--roles', 'admin'], /^unknown option '--roles'/],
    [
      ['users', 'add'],
      /^missing required argument 'username' \(see clawsession users add --help\)$/,
    ],
    [['keys', 'show'], /^missing required argument 'prefix'/],
    [['config', 'check'], /^missing required argument 'file'/],
    [['keys', 'list', 'extra'], /^too many arguments for 'list'/],
    [['migrate', '--from', 'memory:'], /^required option '--to <url>' not specified/],
    [['users', 'set-roles', 'bob'], /^required option '--roles <roles>' not specified/],
    [
      ['migrate', '--from', 'memory:', '--to', 'memory:', '--batch-size', '0'],
      /^option '--batch-size <n>' argument '0' is invalid\. It must be an integer from 1 to 10000\./,
    ],
    [['sweep', '--batch-size', 'lots'], /^option '--batch-size <n>' argument 'lots' is invalid/],
    [
      ['keys', 'rotate', 'AAAAAAAAAAAA', '--grace', 'soon'],
      /^option '--grace <duration>' argument 'soon' is invalid/,
    ],
    [
      ['keys', 'create', '--owner', 'a', '--scope', 'sessions:read', '--rate-limit', '100'],
      /^option '--rate-limit <limit\/window>' argument '100' is invalid\. It takes <limit>\/<window>/,
    ],
  ];

  it('exits 2 with one line naming the problem, never a stack', async () => {
    const runs = await Promise.all(cases.map(([args]) => cli(args)));
    for (const [index, run] of runs.entries()) {
      const [args, problem] = cases[index] as [string[], RegExp];
      const name = args.join(' ');
      expect(run.code, name).toBe(2);
      expect(run.stdout, name).toBe('');
      expect(run.stderr.split('\n'), name).toHaveLength(2); // one line and its newline
      expect(run.stderr.trimEnd().replace(/^clawsession: /, ''), name).toMatch(problem);
    }
  }, 60_000);
});
