import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseInput } from '../fastify-defaults.js';
import type { UserLifecycle } from './user-lifecycle.js';
import type { User, UserDirectory } from './users.js';

// Types only: lengths, the password policy and role names are the directory's to check.
const schemas = {
  add: z.strictObject({
    username: z.string(),
    password: z.string(),
    roles: z.array(z.string()).optional(),
  }),
  update: z.strictObject({ roles: z.array(z.string()) }),
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
 * `POST /admin/users`, `GET /admin/users`, `PATCH /admin/users/:username`
 * (`{ roles }`) and `DELETE /admin/users/:username` over the built-in user
 * table. The caller authenticates the admin (a hook on the context these are
 * registered in); these routes assume it passed. New roles and removal reach
 * the user's live sessions at once, through `lifecycle`.
 */
export function registerUserAdminRoutes(
  app: FastifyInstance,
  users: UserDirectory,
  lifecycle: UserLifecycle,
): void {
  app.post('/admin/users', async (request, reply) => {
    const body = parseInput(schemas.add, request.body, 'body');
    const user = await users.add(body);
    return reply.code(201).send({ user: presentUser(user) });
  });

  app.get('/admin/users', async () => ({ users: (await users.list()).map(presentUser) }));

  app.patch('/admin/users/:username', async (request) => {
    const { username } = parseInput(schemas.params, request.params, 'path');
    const { roles } = parseInput(schemas.update, request.body, 'body');
    return { user: presentUser(await lifecycle.setRoles(username, roles)) };
  });

  app.delete('/admin/users/:username', async (request, reply) => {
    const { username } = parseInput(schemas.params, request.params, 'path');
    await lifecycle.remove(username);
    return reply.code(204).send();
  });
}
