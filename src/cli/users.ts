import { Command } from 'commander';
import { SessionManager } from '../core/index.js';
import {
  type GatewayConfig,
  openSessionStore,
  presentUser,
  type User,
  UserDirectory,
  UserLifecycle,
} from '../gateway/index.js';
import { openRecordStore } from '../stores/index.js';
import type { CliIo } from './io.js';
import { configOf, type StoreOptions, withStoreOptions } from './options.js';
import { printResult, table, when } from './output.js';
import { readNewPassword } from './password-input.js';

const ABOUT = `
The users live in the store (--store, or the store of --config and the
environment, as serve reads it), so every gateway sharing it sees a change at
once. Removing a user or changing their password ends their sessions; new roles
are written into them. Passwords never come from a flag: they are asked for
twice on a terminal (not echoed), or read from the first line of stdin with
--password-stdin.
`;

interface PasswordOptions extends StoreOptions {
  passwordStdin?: boolean;
}

/** `clawsession users …` over the built-in user table (credential source `users`). */
export function usersCommand(io: CliIo): Command {
  const users = new Command('users')
    .description('Built-in users: add, list, remove, set-roles, set-password')
    .addHelpText('after', ABOUT);

  users.addCommand(
    withStoreOptions(
      new Command('add')
        .description('Add a user')
        .argument(
          '<username>',
          '1-128 characters; compared without case (Alice and alice are one user)',
        )
        .option('--roles <roles>', 'roles, comma-separated (default: none)', rolesOf)
        .option('--password-stdin', 'read the password from the first line of stdin')
        .action(async (username: string, options: PasswordOptions & { roles?: string[] }) => {
          const password = await readNewPassword(io, options.passwordStdin ?? false);
          const user = await withUsers(options, ({ directory }) =>
            directory.add({ username, password, roles: options.roles ?? [] }),
          );
          printResult(
            io,
            options.json,
            { added: presentUser(user) },
            `Added user ${user.username} (id ${user.userId}) with ${rolesText(user.roles)}.\n`,
          );
        }),
    ),
  );

  users.addCommand(
    withStoreOptions(
      new Command('list')
        .description('List the users (never their password hashes)')
        .action(async (options: StoreOptions) => {
          const all = await withUsers(options, ({ directory }) => directory.list());
          printResult(io, options.json, { users: all.map(presentUser) }, userTable(all));
        }),
    ),
  );

  users.addCommand(
    withStoreOptions(
      new Command('remove')
        .description('Remove a user and end all their sessions')
        .argument('<username>')
        .action(async (username: string, options: StoreOptions) => {
          const { sessionsEnded } = await withLifecycle(options, (lifecycle) =>
            lifecycle.remove(username),
          );
          printResult(
            io,
            options.json,
            { removed: username, sessionsEnded },
            `Removed user ${username}; ${sessionsText(sessionsEnded)} ended.\n`,
          );
        }),
    ),
  );

  users.addCommand(
    withStoreOptions(
      new Command('set-roles')
        .description("Replace a user's roles, in the table and in their live sessions")
        .argument('<username>')
        .requiredOption('--roles <roles>', "roles, comma-separated ('' for none)", rolesOf)
        .action(async (username: string, options: StoreOptions & { roles: string[] }) => {
          const user = await withLifecycle(options, (lifecycle) =>
            lifecycle.setRoles(username, options.roles),
          );
          printResult(
            io,
            options.json,
            { updated: presentUser(user) },
            `User ${user.username} now has ${rolesText(user.roles)}, in their live sessions too.\n`,
          );
        }),
    ),
  );

  users.addCommand(
    withStoreOptions(
      new Command('set-password')
        .description("Replace a user's password and end all their sessions")
        .argument('<username>')
        .option('--password-stdin', 'read the new password from the first line of stdin')
        .action(async (username: string, options: PasswordOptions) => {
          const password = await readNewPassword(io, options.passwordStdin ?? false);
          const { user, sessionsEnded } = await withLifecycle(options, (lifecycle) =>
            lifecycle.setPassword(username, password),
          );
          printResult(
            io,
            options.json,
            { updated: presentUser(user), sessionsEnded },
            `Changed the password of ${user.username}; ${sessionsText(sessionsEnded)} ended.\n`,
          );
        }),
    ),
  );
  return users;
}

/** `a, b,c` → `['a', 'b', 'c']`; an empty flag is no roles. */
function rolesOf(flag: string): string[] {
  return flag.trim() === '' ? [] : flag.split(',').map((role) => role.trim());
}

function rolesText(roles: string[]): string {
  return roles.length === 0 ? 'no roles' : `roles ${roles.join(', ')}`;
}

function sessionsText(count: number): string {
  return `${count} session${count === 1 ? '' : 's'}`;
}

function userTable(users: User[]): string {
  return table(
    ['USERNAME', 'ID', 'ROLES', 'CREATED', 'UPDATED'],
    users.map((user) => [
      user.username,
      user.userId,
      user.roles.join(',') || '-',
      when(user.createdAt),
      when(user.updatedAt),
    ]),
    'No users.',
  );
}

/** Runs `use` over the user table of the configured store, which it then closes. */
async function withUsers<T>(
  options: StoreOptions,
  use: (opened: { directory: UserDirectory; config: GatewayConfig }) => Promise<T>,
): Promise<T> {
  const config = configOf(options);
  const store = await openRecordStore(config.store);
  try {
    return await use({ directory: new UserDirectory({ store }), config });
  } finally {
    await store.close();
  }
}

/** Runs `change` with the user lifecycle over the configured user table and session store. */
function withLifecycle<T>(
  options: StoreOptions,
  change: (lifecycle: UserLifecycle) => Promise<T>,
): Promise<T> {
  return withUsers(options, async ({ directory, config }) => {
    const manager = new SessionManager({
      // What this ends or changes must also leave the running gateways' near-caches at once.
      store: (await openSessionStore(config, { announceChanges: true })).store,
      idleTimeout: config.idleTimeout,
      absoluteTimeout: config.absoluteTimeout,
    });
    try {
      return await change(new UserLifecycle({ users: directory, manager }));
    } finally {
      await manager.close();
    }
  });
}
