import type { Readable, Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { SessionManager, ValidationError } from '../core/index.js';
import {
  type GatewayConfig,
  loadConfig,
  openSessionStore,
  presentUser,
  UserDirectory,
  UserLifecycle,
} from '../gateway/index.js';
import { openRecordStore } from '../stores/index.js';

/** Where the command talks; the process's own streams unless a caller (a test) passes others. */
export interface UsersIo {
  stdin: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  stdout: Writable;
  stderr: Writable;
}

const USAGE =
  'usage: clawsession users add <username> [--roles a,b] [--password-stdin] | remove <username>' +
  ' | set-roles <username> --roles a,b | list [--store <url> | --config <file>]';
/** Bytes of stdin read for a password: the policy's 1,024 characters of UTF-8, and a newline. */
const MAX_PASSWORD_INPUT = 4 * 1024 + 2;

/**
 * `clawsession users add|remove|set-roles|list` over the built-in user table,
 * in the store at `--store <url>` (or the `store` of `--config <file>` and the
 * environment, as `serve` reads it). `remove` ends the user's sessions, and
 * `set-roles` writes the new roles into them, in that same store, so every
 * gateway sharing it sees the change at once. Passwords never come from a
 * flag, where they would land in the shell history and the process list:
 * `add` prompts for one on a terminal (not echoed, asked twice), or reads the
 * first line of stdin with `--password-stdin`. Output is one JSON object per line.
 */
export async function users(
  args: string[],
  io: UsersIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      store: { type: 'string' },
      config: { type: 'string' },
      roles: { type: 'string' },
      'password-stdin': { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: true,
  });
  const [command, username, ...extra] = positionals;
  const needsName = command === 'add' || command === 'remove' || command === 'set-roles';
  if (
    !(needsName || command === 'list') ||
    extra.length > 0 ||
    (needsName ? username === undefined : username !== undefined)
  ) {
    throw new ValidationError(USAGE);
  }
  if (command !== 'add' && values['password-stdin'])
    throw new ValidationError('--password-stdin belongs to users add');
  if (command === 'set-roles' ? values.roles === undefined : command !== 'add' && values.roles)
    throw new ValidationError(
      '--roles belongs to users add and users set-roles (where it is required)',
    );
  const roles = values.roles === undefined ? [] : rolesOf(values.roles);
  const password =
    command === 'add' ? await readPassword(io, values['password-stdin'] ?? false) : '';
  const config = loadConfig({
    file: values.config,
    env: process.env,
    overrides: { store: values.store },
  });
  const store = await openRecordStore(config.store);
  try {
    const directory = new UserDirectory({ store });
    const print = (value: unknown) => io.stdout.write(`${JSON.stringify(value)}\n`);
    const name = username as string;
    if (command === 'add') {
      const user = await directory.add({ username: name, password, roles });
      print({ added: presentUser(user) });
    } else if (command === 'remove') {
      const { sessionsEnded } = await withLifecycle(config, directory, (users) =>
        users.remove(name),
      );
      print({ removed: username, sessionsEnded });
    } else if (command === 'set-roles') {
      const user = await withLifecycle(config, directory, (users) => users.setRoles(name, roles));
      print({ updated: presentUser(user) });
    } else {
      for (const user of await directory.list()) print(presentUser(user));
    }
  } finally {
    await store.close();
  }
}

/** `a, b,c` → `['a', 'b', 'c']`; an empty flag is no roles. */
function rolesOf(flag: string): string[] {
  return flag.trim() === '' ? [] : flag.split(',').map((role) => role.trim());
}

/** Runs `change` with the user lifecycle over the configured session store, which it then closes. */
async function withLifecycle<T>(
  config: GatewayConfig,
  users: UserDirectory,
  change: (lifecycle: UserLifecycle) => Promise<T>,
): Promise<T> {
  const manager = new SessionManager({
    // What this ends or changes must also leave the running gateways' near-caches at once.
    store: (await openSessionStore(config, { announceChanges: true })).store,
    idleTimeout: config.idleTimeout,
    absoluteTimeout: config.absoluteTimeout,
  });
  try {
    return await change(new UserLifecycle({ users, manager }));
  } finally {
    await manager.close();
  }
}

async function readPassword(io: UsersIo, fromStdin: boolean): Promise<string> {
  if (fromStdin) return firstLine(await readBounded(io.stdin));
  const { stdin } = io;
  if (!stdin.isTTY || !stdin.setRawMode) {
    throw new ValidationError(
      'stdin is not a terminal: pipe the password in with --password-stdin',
    );
  }
  const password = await promptHidden(stdin, io.stderr, 'Password: ');
  if ((await promptHidden(stdin, io.stderr, 'Repeat password: ')) !== password)
    throw new ValidationError('the passwords do not match');
  return password;
}

async function readBounded(input: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const bytes = Buffer.from(chunk as Buffer | string);
    size += bytes.length;
    if (size > MAX_PASSWORD_INPUT) throw new ValidationError('the password on stdin is too long');
    chunks.push(bytes);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function firstLine(text: string): string {
  const end = text.search(/\r?\n/);
  return end === -1 ? text : text.slice(0, end);
}

/** One line from a terminal in raw mode, so that nothing typed is echoed. Backspace edits; Ctrl-C or Ctrl-D abort. */
function promptHidden(
  input: Readable & { setRawMode?: (raw: boolean) => unknown },
  output: Writable,
  question: string,
): Promise<string> {
  output.write(question);
  input.setRawMode?.(true);
  return new Promise<string>((resolve, reject) => {
    let answer = '';
    const finish = (error: Error | null) => {
      input.off('data', onData);
      input.setRawMode?.(false);
      input.pause();
      output.write('\n');
      if (error) reject(error);
      else resolve(answer);
    };
    const onData = (chunk: Buffer | string) => {
      for (const char of chunk.toString()) {
        if (char === '\r' || char === '\n') return finish(null);
        if (char === '\u0003' || char === '\u0004')
          return finish(new ValidationError('no password entered'));
        if (char === '\u007f' || char === '\b') answer = [...answer].slice(0, -1).join('');
        else answer += char;
      }
    };
    input.on('data', onData);
    input.resume();
  });
}
