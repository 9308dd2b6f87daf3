import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/program.js';
import { SessionManager, ValidationError } from '../../src/core/index.js';
import { UserDirectory } from '../../src/gateway/auth/index.js';
import { grantedRoles, ROLES_DATA_KEY } from '../../src/http/index.js';
import { openRecordStore, openStore } from '../../src/stores/index.js';
import { captured } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'clawsession-cli-users-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const PASSWORD = 'correct horse battery staple';

const users = (args: string[], streams: CliIo) => runCli(['users', ...args], streams);

function freshStore(): string {
  return `sqlite:${join(dir, `${crypto.randomUUID()}.db`)}`;
}

/** Streams for one run: stdin from `input` (or a given stream), stdout and stderr collected. */
function io(input: string | Readable = '') {
  const streams = captured(input);
  return {
    streams: streams.io,
    lines: () =>
      streams
        .stdout()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line)),
    stdout: streams.stdout,
    stderr: streams.stderr,
  };
}

/** A terminal: typing arrives in the chunks given, raw mode is recorded. */
function terminal(chunks: string[]) {
  const stdin = new PassThrough() as PassThrough & {
    isTTY: boolean;
    setRawMode: (raw: boolean) => void;
  };
  const modes: boolean[] = [];
  stdin.isTTY = true;
  stdin.setRawMode = (raw) => {
    modes.push(raw);
  };
  const typeAll = async () => {
    for (const chunk of chunks) {
      await new Promise((resolve) => setImmediate(resolve));
      stdin.write(chunk);
    }
  };
  return { stdin, modes, typeAll };
}

async function verify(store: string, username: string, password: string) {
  const records = await openRecordStore(store);
  try {
    return await new UserDirectory({ store: records }).verify(username, password);
  } finally {
    await records.close();
  }
}

describe('clawsession users', () => {
  it('adds a user with the password from stdin, lists and removes them', async () => {
    const store = freshStore();
    const add = io(`${PASSWORD}\n`);
    await users(
      ['add', 'Alice', '--roles', 'admin, ops', '--password-stdin', '--store', store, '--json'],
      add.streams,
    );
    expect(add.lines()).toEqual([
      {
        added: {
          id: 'alice',
          username: 'Alice',
          roles: ['admin', 'ops'],
          createdAt: expect.any(String),
          updatedAt: expect.any(String),
        },
      },
    ]);
    expect(await verify(store, 'alice', PASSWORD)).toMatchObject({ roles: ['admin', 'ops'] });

    await users(
      ['add', 'bob', '--password-stdin', '--store', store],
      io(`${PASSWORD}\r\n`).streams,
    );
    expect(await verify(store, 'bob', PASSWORD)).not.toBeNull();

    const list = io();
    await users(['list', '--store', store, '--json'], list.streams);
    expect(list.lines()[0].users.map((user: { id: string }) => user.id)).toEqual(['alice', 'bob']);
    expect(JSON.stringify(list.lines())).not.toContain('scrypt');

    const remove = io();
    await users(['remove', 'ALICE', '--store', store, '--json'], remove.streams);
    expect(remove.lines()).toEqual([{ removed: 'ALICE', sessionsEnded: 0 }]);
    expect(await verify(store, 'alice', PASSWORD)).toBeNull();
    await expect(users(['remove', 'alice', '--store', store], io().streams)).rejects.toMatchObject({
      code: 'ERR_USER_NOT_FOUND',
    });
  });

  it('takes the store from a config file', async () => {
    const store = freshStore();
    const config = join(dir, `${crypto.randomUUID()}.json`);
    writeFileSync(config, JSON.stringify({ store }));
    await users(['add', 'carol', '--password-stdin', '--config', config], io(PASSWORD).streams);
    expect(await verify(store, 'carol', PASSWORD)).not.toBeNull();
  });

  it('prompts on a terminal without echo, twice, and honours backspace', async () => {
    const store = freshStore();
    const { stdin, modes, typeAll } = terminal([`${PASSWORD}x\u007f\r`, `${PASSWORD}\r`]);
    const run = io(stdin);
    const done = users(['add', 'dave', '--store', store], run.streams);
    await typeAll();
    await done;
    expect(run.stderr()).toBe('Password: \nRepeat password: \n');
    expect(run.stderr()).not.toContain(PASSWORD);
    expect(modes).toEqual([true, false, true, false]);
    expect(await verify(store, 'dave', PASSWORD)).not.toBeNull();
  });

  it('refuses when the two typed passwords differ, and adds nobody', async () => {
    const store = freshStore();
    const { stdin, typeAll } = terminal([`${PASSWORD}\r`, 'something else entirely\r']);
    const done = users(['add', 'erin', '--store', store], io(stdin).streams);
    await typeAll();
    await expect(done).rejects.toThrow('the passwords do not match');
    const list = io();
    await users(['list', '--store', store, '--json'], list.streams);
    expect(list.lines()).toEqual([{ users: [] }]);
  });

  it('never takes a password from a pipe unless told to with --password-stdin', async () => {
    const store = freshStore();
    await expect(
      users(['add', 'frank', '--store', store], io(`${PASSWORD}\n`).streams),
    ).rejects.toThrow(/--password-stdin/);
    await expect(
      users(['add', 'frank', '--password', PASSWORD, '--store', store], io().streams),
    ).rejects.toMatchObject({ code: 'ERR_USAGE' });
  });

  it.each([
    [['add', '--password-stdin'], 'a missing username'],
    [['list', 'extra'], 'a stray argument'],
    [['rename', 'a', 'b'], 'an unknown subcommand'],
    [[], 'no subcommand'],
    [['list', '--roles', 'admin'], 'a flag of add and set-roles'],
    [['remove', 'a', '--password-stdin'], 'an add-only flag'],
    [['set-roles', 'a'], 'set-roles without --roles'],
  ])('refuses %j (%s) as a command line it cannot run', async (args) => {
    await expect(users([...args, '--store', freshStore()], io().streams)).rejects.toMatchObject({
      code: 'ERR_USAGE',
    });
  });

  it('refuses a weak password, a taken name and a bad role with typed errors', async () => {
    const store = freshStore();
    await expect(
      users(['add', 'gina', '--password-stdin', '--store', store], io('short\n').streams),
    ).rejects.toMatchObject({ code: 'ERR_PASSWORD_POLICY' });
    await users(['add', 'gina', '--password-stdin', '--store', store], io(PASSWORD).streams);
    await expect(
      users(['add', 'GINA', '--password-stdin', '--store', store], io(PASSWORD).streams),
    ).rejects.toMatchObject({ code: 'ERR_USER_EXISTS' });
    await expect(
      users(
        ['add', 'hal', '--roles', 'bad role', '--password-stdin', '--store', store],
        io(PASSWORD).streams,
      ),
    ).rejects.toBeInstanceOf(ValidationError);
    await expect(
      users(['add', 'ivan', '--password-stdin', '--store', store], io('x'.repeat(10_000)).streams),
    ).rejects.toThrow('too long');
  });

  it('sets roles in the table and in the live sessions, and ends them all on remove', async () => {
    const store = freshStore();
    await users(
      ['add', 'alice', '--roles', 'admin', '--password-stdin', '--store', store],
      io(PASSWORD).streams,
    );
    const manager = new SessionManager({ store: await openStore(store) });
    try {
      const roles = { [ROLES_DATA_KEY]: ['admin'] };
      const one = await manager.create({ userId: 'alice', data: roles });
      const two = await manager.create({ userId: 'alice', data: roles });
      const bob = await manager.create({ userId: 'bob', data: roles });

      const set = io();
      await users(
        ['set-roles', 'Alice', '--roles', 'support, ops', '--store', store, '--json'],
        set.streams,
      );
      expect(set.lines()).toEqual([
        { updated: expect.objectContaining({ id: 'alice', roles: ['support', 'ops'] }) },
      ]);
      expect(await verify(store, 'alice', PASSWORD)).toMatchObject({ roles: ['support', 'ops'] });
      for (const { token } of [one, two])
        expect(grantedRoles((await manager.get(token))?.data ?? {})).toEqual(['support', 'ops']);
      expect(grantedRoles((await manager.get(bob.token))?.data ?? {})).toEqual(['admin']);

      await users(['set-roles', 'alice', '--roles', '', '--store', store], io().streams);
      expect(grantedRoles((await manager.get(one.token))?.data ?? {})).toEqual([]);

      const remove = io();
      await users(['remove', 'alice', '--store', store, '--json'], remove.streams);
      expect(remove.lines()).toEqual([{ removed: 'alice', sessionsEnded: 2 }]);
      expect(await manager.get(one.token)).toBeNull();
      expect(await manager.get(two.token)).toBeNull();
      expect(await manager.get(bob.token)).not.toBeNull();
      await expect(
        users(['set-roles', 'alice', '--roles', 'x', '--store', store], io().streams),
      ).rejects.toMatchObject({ code: 'ERR_USER_NOT_FOUND' });
    } finally {
      await manager.close();
    }
  });
});

describe('clawsession users set-password', () => {
  it('replaces the password, so only the new one logs in, and ends every session of that user only', async () => {
    const store = freshStore();
    await users(['add', 'alice', '--password-stdin', '--store', store], io(PASSWORD).streams);
    const manager = new SessionManager({ store: await openStore(store) });
    try {
      const sessions = [
        await manager.create({ userId: 'alice' }),
        await manager.create({ userId: 'alice' }),
      ];
      const bob = await manager.create({ userId: 'bob' });

      const NEW_PASSWORD = 'a brand new passphrase for alice';
      const set = io(`${NEW_PASSWORD}\n`);
      await users(
        ['set-password', 'ALICE', '--password-stdin', '--store', store, '--json'],
        set.streams,
      );
      expect(set.lines()).toEqual([
        { updated: expect.objectContaining({ id: 'alice' }), sessionsEnded: 2 },
      ]);
      expect(await verify(store, 'alice', NEW_PASSWORD)).toMatchObject({ userId: 'alice' });
      expect(await verify(store, 'alice', PASSWORD)).toBeNull();
      for (const { token } of sessions) expect(await manager.get(token)).toBeNull();
      expect(await manager.get(bob.token)).not.toBeNull();
    } finally {
      await manager.close();
    }
  });

  it('asks twice on a terminal, says what it did, and refuses an unknown user or a weak password', async () => {
    const store = freshStore();
    await users(['add', 'carol', '--password-stdin', '--store', store], io(PASSWORD).streams);
    const NEW_PASSWORD = 'typed twice without echo';
    const { stdin, typeAll } = terminal([`${NEW_PASSWORD}\r`, `${NEW_PASSWORD}\r`]);
    const run = io(stdin);
    const done = users(['set-password', 'carol', '--store', store], run.streams);
    await typeAll();
    await done;
    expect(run.stderr()).toBe('Password: \nRepeat password: \n');
    expect(run.stdout()).toBe('Changed the password of carol; 0 sessions ended.\n');
    expect(await verify(store, 'carol', NEW_PASSWORD)).not.toBeNull();

    await expect(
      users(['set-password', 'nobody', '--password-stdin', '--store', store], io(PASSWORD).streams),
    ).rejects.toMatchObject({ code: 'ERR_USER_NOT_FOUND' });
    await expect(
      users(['set-password', 'carol', '--password-stdin', '--store', store], io('short').streams),
    ).rejects.toMatchObject({ code: 'ERR_PASSWORD_POLICY' });
    expect(await verify(store, 'carol', NEW_PASSWORD)).not.toBeNull();
  });
});

describe('clawsession users, as text', () => {
  it('says so when there are no users, and shows them as a table without hashes', async () => {
    const store = freshStore();
    const empty = io();
    await users(['list', '--store', store], empty.streams);
    expect(empty.stdout()).toBe('No users.\n');

    const add = io(PASSWORD);
    await users(
      ['add', 'Alice', '--roles', 'admin,ops', '--password-stdin', '--store', store],
      add.streams,
    );
    expect(add.stdout()).toBe('Added user Alice (id alice) with roles admin, ops.\n');
    await users(['add', 'bob', '--password-stdin', '--store', store], io(PASSWORD).streams);

    const list = io();
    await users(['list', '--store', store], list.streams);
    const [header, ...rows] = list.stdout().trimEnd().split('\n');
    expect(header).toMatch(/^USERNAME +ID +ROLES +CREATED +UPDATED$/);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/^Alice +alice +admin,ops +\S+Z +\S+Z$/);
    expect(rows[1]).toMatch(/^bob +bob +- +\S+Z +\S+Z$/);
    expect(list.stdout()).not.toContain('scrypt');

    const setRoles = io();
    await users(['set-roles', 'bob', '--roles', 'ops', '--store', store], setRoles.streams);
    expect(setRoles.stdout()).toBe('User bob now has roles ops, in their live sessions too.\n');
    const remove = io();
    await users(['remove', 'bob', '--store', store], remove.streams);
    expect(remove.stdout()).toBe('Removed user bob; 0 sessions ended.\n');
  });
});
