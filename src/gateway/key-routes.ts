import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { parseDuration } from '../core/index.js';
import {
  API_KEY_SCOPES,
  type ApiKeyInfo,
  ApiKeyNotFoundError,
  type ApiKeys,
  isPrefix,
} from '../keys/index.js';
import { parseInput } from './fastify-defaults.js';
import { adminCauseOf, assertMayGrant } from './service-auth.js';
import type { ServiceEventLog } from './service-events.js';

/** A key as the admin API shows it: times as ISO 8601. Never holds the secret or its hash. */
export function presentApiKey(info: ApiKeyInfo) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    prefix: info.prefix,
    owner: info.owner,
    scopes: info.scopes,
    description: info.description,
    createdAt: iso(info.createdAt),
    expiresAt: iso(info.expiresAt),
    rateLimit: info.rateLimit,
    rotatedAt: iso(info.rotatedAt),
    previousValidUntil: iso(info.previousValidUntil),
    lastUsedAt: iso(info.lastUsedAt),
    uses: info.uses,
  };
}

/** Milliseconds from a number of ms or a string such as `90s`, `10m`, `30d`. */
const duration = z.union([z.number(), z.string()]).transform((value, ctx) => {
  try {
    return parseDuration(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

/** Epoch ms from an ISO 8601 date-time with an offset, or a number of epoch ms. */
const instant = z.union([
  z.iso.datetime({ offset: true }).transform((text) => Date.parse(text)),
  z.number().int().positive(),
]);

const schemas = {
  create: z.strictObject({
    owner: z.string().min(1).max(200),
    scopes: z.array(z.enum(API_KEY_SCOPES)).min(1).max(API_KEY_SCOPES.length),
    expiresAt: instant.nullable().optional(),
    rateLimit: z
      .strictObject({
        limit: z.number().int().min(1).max(1_000_000),
        windowMs: duration.refine((ms) => ms > 0, 'must be longer than 0'),
      })
      .nullable()
      .optional(),
    description: z.string().max(500).nullable().optional(),
  }),
  rotate: z.strictObject({ grace: duration.optional() }),
  params: z.strictObject({
    prefix: z.string().refine(isPrefix, 'must be a 12-character API key prefix'),
  }),
};

/**
 * The admin API for API keys under /admin/keys. The caller registers it
 * behind a `requireScope('keys:admin')` hook (see `serviceAuth`). A key may
 * create, or rotate (and so obtain the secret of), only a key whose scopes it
 * holds itself; the root token any. Secrets appear only in the responses of
 * create and rotate.
 */
export function registerKeyRoutes(
  app: FastifyInstance,
  keys: ApiKeys,
  events?: ServiceEventLog,
): void {
  app.post('/admin/keys', async (request, reply) => {
    const body = parseInput(schemas.create, request.body, 'body');
    assertMayGrant(request, body.scopes);
    const { key, info } = await keys.create(body);
    await events?.record('apikey.created', null, keyEventData(request, info));
    return reply.code(201).send({ key, info: presentApiKey(info) });
  });

  app.get('/admin/keys', async () => {
    const infos = await keys.list();
    return { keys: infos.map(presentApiKey) };
  });

  app.get('/admin/keys/:prefix', async (request) => {
    const { prefix } = parseInput(schemas.params, request.params, 'path');
    const info = await keys.get(prefix);
    if (!info) throw new ApiKeyNotFoundError(prefix);
    return { info: presentApiKey(info) };
  });

  app.post('/admin/keys/:prefix/rotate', async (request) => {
    const { prefix } = parseInput(schemas.params, request.params, 'path');
    const { grace } = parseInput(schemas.rotate, request.body ?? {}, 'body');
    const target = await keys.get(prefix);
    if (!target) throw new ApiKeyNotFoundError(prefix);
    assertMayGrant(request, target.scopes);
    const { key, info } = await keys.rotate(prefix, { grace });
    await events?.record('apikey.rotated', null, keyEventData(request, info));
    return { key, info: presentApiKey(info) };
  });

  app.delete('/admin/keys/:prefix', async (request, reply) => {
    const { prefix } = parseInput(schemas.params, request.params, 'path');
    const target = await keys.get(prefix);
    if (!(await keys.revoke(prefix))) throw new ApiKeyNotFoundError(prefix);
    if (target) await events?.record('apikey.revoked', null, keyEventData(request, target));
    return reply.code(204).send();
  });
}

/** What an API key event says: which key (its public prefix, never the secret), whose, and who acted. */
function keyEventData(request: FastifyRequest, info: ApiKeyInfo) {
  return {
    keyId: info.prefix,
    owner: info.owner,
    scopes: info.scopes,
    actor: adminCauseOf(request, 'admin').actor,
  };
}
