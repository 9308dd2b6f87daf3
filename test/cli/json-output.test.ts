import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { commandPath, everyCommand } from '../../src/cli/command-tree.js';
import { createProgram } from '../../src/cli/program.js';
import { runInProcess } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'clawsession-cli-json-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const PASSWORD = 'correct horse battery staple';

/** A SQLite store holding the user alice and one API key, and a config file naming it with events on (a sink it never contacts). */
async function populated() {
  const store = `sqlite:${join(dir, `${crypto.randomUUID()}.db`)}`;
  await runInProcess(['users', 'add', 'alice', '--password-stdin', '--store', store], PASSWORD);
  const created = await runInProcess([
    'keys',
    'create',
    '--owner',
    'billing',
    '--scope',
    'sessions:read',
    '--store',
    store,
    '--json',
  ]);
  const config = join(dir, `${crypto.randomUUID()}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      store,
      events: { sinks: [{ kind: 'redis', url: 'redis://127.0.0.1:6379', stream: 'unused' }] },
    }),
  );
  return { store, config, prefix: JSON.parse(created.stdout).info.prefix as string };
}

type Fixture = Awaited<ReturnType<typeof populated>>;

/** One invocation of every command that takes --json (and its stdin), against a populated store. */
const invocations: Record<string, (fixture: Fixture) => [string[], string?]> = {
  migrate: ({ store }) => [
    ['migrate', '--from', store, '--to', `sqlite:${join(dir, `${crypto.randomUUID()}.db`)}`],
  ],
  sweep: ({ store }) => [['sweep', '--store', store]],
  audit: ({ config }) => [['audit', '--config', config]],
  'events status': ({ config }) => [['events', 'status', '--config', config]],
  'events resume': ({ config }) => [['events', 'resume', '--sink', 'redis', '--config', config]],
  'events redeliver': ({ config }) => [
    ['events', 'redeliver', '--sink', 'redis', '--from', '1h', '--config', config],
  ],
  'keys create': ({ store }) => [
    ['keys', 'create', '--owner', 'search', '--scope', 'sessions:read', '--store', store],
  ],
  'keys list': ({ store }) => [['keys', 'list', '--store', store]],
  'keys show': ({ store, prefix }) => [['keys', 'show', prefix, '--store', store]],
  'keys rotate': ({ store, prefix }) => [['keys', 'rotate', prefix, '--store', store]],
  'keys revoke': ({ store, prefix }) => [['keys', 'revoke', prefix, '--store', store]],
  'users add': ({ store }) => [
    ['users', 'add', 'bob', '--password-stdin', '--store', store],
    PASSWORD,
  ],
  'users list': ({ config }) => [['users', 'list', '--config', config]],
  'users remove': ({ store }) => [['users', 'remove', 'alice', '--store', store]],
  'users set-roles': ({ store }) => [
    ['users', 'set-roles', 'alice', '--roles', 'ops', '--store', store],
  ],
  'users set-password': ({ store }) => [
    ['users', 'set-password', 'alice', '--password-stdin', '--store', store],
    'another passphrase entirely',
  ],
  'secrets generate': () => [['secrets', 'generate']],
  'config check': ({ config }) => [['config', 'check', config]],
};

const tree = everyCommand(
  createProgram({ stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }),
);
const name = (command: (typeof tree)[number]) => commandPath(command).split(' ').slice(1).join(' ');

describe('--json', () => {
  it('is taken by every command that prints a result, each of which has an invocation here', () => {
    const withJson = tree.filter((command) =>
      command.options.some((option) => option.long === '--json'),
    );
    expect(withJson.map(name).sort()).toEqual(Object.keys(invocations).sort());
    const without = tree.filter(
      (command) => !withJson.includes(command) && command.commands.length === 0,
    );
    // serve logs JSON lines of its own; the others print no result to parse.
    expect(without.map(name).sort()).toEqual(['completion', 'serve', 'version']);
  });

  it.each(Object.entries(invocations))(
    '%s --json prints one JSON document',
    async (_name, invocation) => {
      const [args, input] = invocation(await populated());
      const { stdout } = await runInProcess([...args, '--json'], input);
      expect(stdout.endsWith('\n')).toBe(true);
      expect(stdout.trimEnd().split('\n')).toHaveLength(1);
      expect(JSON.parse(stdout)).toBeTypeOf('object');
    },
  );
});

describe('a listing', () => {
  const listings = tree.filter((command) => command.name() === 'list');

  it.each(listings.map((command) => [name(command)]))(
    '%s says so when it is empty',
    async (listing) => {
      const store = `sqlite:${join(dir, `${crypto.randomUUID()}.db`)}`;
      const args = [...listing.split(' '), '--store', store];
      expect((await runInProcess(args)).stdout).toMatch(/^No [a-zA-Z ]+\.\n$/);
      expect(Object.values(JSON.parse((await runInProcess([...args, '--json'])).stdout))).toEqual([
        [],
      ]);
    },
  );
});
