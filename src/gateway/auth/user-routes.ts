import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { SessionManager } from '../../core/index.js';
import { parseInput } from '../fastify-defaults.js';
import { UserNotFoundError } from './errors.js';
import { normalizeUsername, type User, type UserDirectory } from './users.js';

// Types only: lengths, the password policy and role names are the directory's to check.
const schemas = {
  add: z.strictObject({
    username: z.string(),
    password: z.string(),
    roles: z.array(z.string()).optional(),
  }),
  params: z.strictObject({ username: z.string() }),
};

/** A user as the admin API shows it: times as ISO 8601, never a password hash. */
export function presentUser(user: User) {
  return {
    id: user.userId,
    username: user.username,
    roles: user.roles,
    createdAt: new Date(user.createdAt).toISOString(),
    updatedAt: new Date(user.updatedAt).toISOString(),
  };
}

/**
 * `POST /admin/users`, `GET /admin/users` and `DELETE /admin/users/:username`
 * over the built-in user table. The caller authenticates the admin (a hook on
 * the context these are registered in); these routes assume it passed.
 * Removing a user also ends their sessions when `manager` is given.
 */
export function registerUserAdminRoutes(
  app: FastifyInstance,
  users: UserDirectory,
  manager?: SessionManager,
): void {
  app.post('/admin/users', async (request, reply) => {
    const body = parseInput(schemas.add, request.body, 'body');
    const user = await users.add(body);
    return reply.code(201).send({ user: presentUser(user) });
  });

  app.get('/admin/users', async () => ({ users: (await users.list()).map(presentUser) }));

  app.delete('/admin/users/:username', async (request, reply) => {
    const { username } = parseInput(schemas.params, request.params, 'path');
    const { key } = normalizeUsername(username);
    if (!(await users.remove(username))) throw new UserNotFoundError(username);
    await manager?.revokeAllForUser(key);
    return reply.code(204).send();
  });
}
