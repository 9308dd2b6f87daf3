import { type SessionManager, SessionNotFoundError } from '../../core/index.js';
import { ROLES_DATA_KEY } from '../../http/index.js';
import { UserNotFoundError } from './errors.js';
import type { User, UserDirectory } from './users.js';

export interface UserLifecycleOptions {
  users: UserDirectory;
  /** The sessions of every gateway sharing the store: a change here is seen by all of them at once. */
  manager: SessionManager;
}

/**
 * Changes to a user that must reach their live sessions at once: removal
 * (offboarding), a new password and new roles. The CLI and the admin API both go through it.
 * Access tokens count only while their session lives, and a refresh family
 * whose session has ended refuses to rotate, so ending the sessions ends
 * those too.
 */
export class UserLifecycle {
  readonly #users: UserDirectory;
  readonly #manager: SessionManager;

  constructor(options: UserLifecycleOptions) {
    this.#users = options.users;
    this.#manager = options.manager;
  }

  /**
   * Removes the user and ends every session of theirs, with their access
   * tokens and refresh families. UserNotFoundError if there is no such user.
   */
  async remove(username: string): Promise<{ sessionsEnded: number }> {
    const userId = await this.#users.remove(username);
    if (userId === null) throw new UserNotFoundError(username);
    return {
      sessionsEnded: await this.#manager.revokeAllForUser(userId, {
        cause: { actor: 'admin', reason: 'user-removed' },
      }),
    };
  }

  /**
   * Replaces the user's password and ends every session of theirs, as
   * removal does: a password is changed when the old one may be known to
   * someone else, who must not keep a session opened with it.
   * UserNotFoundError if there is no such user.
   */
  async setPassword(
    username: string,
    password: string,
  ): Promise<{ user: User; sessionsEnded: number }> {
    const user = await this.#users.setPassword(username, password);
    return {
      user,
      sessionsEnded: await this.#manager.revokeAllForUser(user.userId, {
        cause: { actor: 'admin', reason: 'password-changed' },
      }),
    };
  }

  /**
   * Replaces the user's roles and writes them into each of their live
   * sessions, so that the next identity context (cookie or access token)
   * carries them. UserNotFoundError if there is no such user.
   */
  async setRoles(username: string, roles: string[]): Promise<User> {
    const user = await this.#users.setRoles(username, roles);
    for (const session of await this.#manager.listForUser(user.userId)) {
      await this.#manager
        .patch({ id: session.id }, [{ op: 'add', path: `/${ROLES_DATA_KEY}`, value: user.roles }])
        .catch((error: unknown) => {
          if (!(error instanceof SessionNotFoundError)) throw error; // ended meanwhile: nothing to update
        });
    }
    return user;
  }
}
