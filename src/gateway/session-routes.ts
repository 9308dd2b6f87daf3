import type { FastifyInstance, FastifyReply, onRequestAsyncHookHandler } from 'fastify';
import { z } from 'zod';
import {
  ForbiddenPathError,
  parsePatch,
  type Session,
  type SessionData,
  type SessionManager,
  SessionNotFoundError,
} from '../core/index.js';
import { assertNoReservedKey, checkReservedKeys, HttpError, parseIfMatch } from '../http/index.js';
import type { Scope } from '../keys/index.js';
import type { AnomalyGuard } from './anomaly-guard.js';
import { parseInput } from './fastify-defaults.js';
import { adminCauseOf } from './service-auth.js';

/** A session as the API shows it: times as ISO 8601. The token is never part of it. */
export function presentSession(session: Session) {
  return {
    id: session.id,
    userId: session.userId,
    data: session.data,
    version: session.version,
    createdAt: new Date(session.createdAt).toISOString(),
    lastActiveAt: new Date(session.lastActiveAt).toISOString(),
    idleExpiresAt: new Date(session.idleExpiresAt).toISOString(),
    absoluteExpiresAt: new Date(session.absoluteExpiresAt).toISOString(),
    ip: session.ip,
    userAgent: session.userAgent,
  };
}

const sessionId = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'must be a 64-character lowercase hex session id');
const userId = z.string().min(1).max(256);

const schemas = {
  create: z.strictObject({
    userId,
    data: z.record(z.string(), z.unknown()).optional(),
    ip: z.string().nullable().optional(),
    userAgent: z.string().nullable().optional(),
  }),
  validate: z.strictObject({ token: z.string() }),
  sessionParams: z.strictObject({ id: sessionId }),
  userParams: z.strictObject({ userId }),
  revokeUserQuery: z.strictObject({ except: sessionId.optional() }),
};

/** Strong ETag from the version: `"7"`. */
function etag(session: Session): string {
  return `"${session.version}"`;
}

/**
 * The version a PATCH may apply to under its `If-Match` (RFC 9110 §13.1.1):
 * undefined when there is no header or it is `*` on a live session; the one
 * version a list names, or the current version when the list names it
 * (the store then checks it atomically). No match, or no session for a
 * condition to hold on, is a 412 that changes nothing.
 */
async function versionFromIfMatch(
  manager: SessionManager,
  id: string,
  header: string | undefined,
): Promise<number | undefined> {
  const condition = parseIfMatch(header);
  if (condition === undefined) return undefined;
  const versions = condition.any
    ? []
    : condition.strongTags.filter((tag) => VERSION_TAG.test(tag)).map(Number);
  if (!condition.any && versions.length === 1) return versions[0];
  const current = await manager.get({ id }, { touch: false });
  if (current !== null && (condition.any || versions.includes(current.version)))
    return condition.any ? undefined : current.version;
  throw current === null
    ? noSessionToMatch()
    : new HttpError(
        'ERR_SESSION_VERSION_CONFLICT',
        'If-Match names no current version of the session',
      );
}

function noSessionToMatch(): HttpError {
  return new HttpError(
    'ERR_SESSION_VERSION_CONFLICT',
    'If-Match needs a current session, and there is none',
  );
}

const VERSION_TAG = /^[1-9][0-9]{0,15}$/;

function sendSession(reply: FastifyReply, status: number, session: Session, token?: string) {
  return reply
    .code(status)
    .header('etag', etag(session))
    .send(
      token === undefined
        ? { session: presentSession(session) }
        : { token, session: presentSession(session) },
    );
}

/**
 * A service patch, checked before it reaches the store: key by key, never the
 * whole data (which holds the reserved keys), and never a reserved key.
 */
function servicePatch(body: unknown) {
  const ops = parsePatch(body);
  if (checkReservedKeys(ops).writesRoot)
    throw new ForbiddenPathError(
      '',
      'the service API patches keys, not the whole session data, which holds reserved keys',
    );
  return ops;
}

/**
 * The /v1 session API for services. Raw tokens travel only in bodies, never in
 * URLs. Reads need `sessions:read`; changes to a session `sessions:write`;
 * creating a session (signing in any user) and revoking every session of a
 * user `sessions:admin`. The reserved keys (`__clawsession_*`: the roles the
 * gateway signs, the CSRF secret) are out of reach of creates and patches.
 * With `anomalies`, patches are shown to anomaly detection (watched fields).
 */
export function registerSessionRoutes(
  app: FastifyInstance,
  manager: SessionManager,
  requireScope: (scope: Scope) => onRequestAsyncHookHandler,
  anomalies?: AnomalyGuard,
): void {
  app.post(
    '/v1/sessions',
    { onRequest: requireScope('sessions:admin') },
    async (request, reply) => {
      const body = parseInput(schemas.create, request.body, 'body');
      const data = body.data as SessionData | undefined;
      if (data !== undefined) assertNoReservedKey(data);
      const { token, session } = await manager.create({
        userId: body.userId,
        data,
        ip: body.ip,
        userAgent: body.userAgent,
      });
      return sendSession(reply, 201, session, token);
    },
  );

  app.post(
    '/v1/sessions/validate',
    { onRequest: requireScope('sessions:read') },
    async (request, reply) => {
      const { token } = parseInput(schemas.validate, request.body, 'body');
      const session = await manager.get(token);
      if (!session) throw new SessionNotFoundError('no live session has this token');
      return sendSession(reply, 200, session);
    },
  );

  app.get(
    '/v1/sessions/:id',
    { onRequest: requireScope('sessions:read') },
    async (request, reply) => {
      const { id } = parseInput(schemas.sessionParams, request.params, 'path');
      const session = await manager.get({ id }, { touch: false });
      if (!session) throw new SessionNotFoundError();
      return sendSession(reply, 200, session);
    },
  );

  app.patch(
    '/v1/sessions/:id',
    { onRequest: requireScope('sessions:write') },
    async (request, reply) => {
      const { id } = parseInput(schemas.sessionParams, request.params, 'path');
      const ops = servicePatch(request.body);
      const ifMatch = request.headers['if-match'];
      const expectedVersion = await versionFromIfMatch(manager, id, ifMatch);
      const session = await manager.patch({ id }, ops, { expectedVersion }).catch((error) => {
        // A condition on a session that is gone has failed, as RFC 9110 says: 412, not 404.
        if (ifMatch !== undefined && error instanceof SessionNotFoundError)
          throw noSessionToMatch();
        throw error;
      });
      await anomalies?.patched(request, session, ops);
      return sendSession(reply, 200, session);
    },
  );

  app.post(
    '/v1/sessions/:id/regenerate',
    { onRequest: requireScope('sessions:write') },
    async (request, reply) => {
      const { id } = parseInput(schemas.sessionParams, request.params, 'path');
      const { token, session } = await manager.regenerate(
        { id },
        { cause: adminCauseOf(request, 'admin') },
      );
      return sendSession(reply, 201, session, token);
    },
  );

  app.delete(
    '/v1/sessions/:id',
    { onRequest: requireScope('sessions:write') },
    async (request, reply) => {
      const { id } = parseInput(schemas.sessionParams, request.params, 'path');
      if (!(await manager.revoke({ id }, { cause: adminCauseOf(request, 'admin') })))
        throw new SessionNotFoundError();
      return reply.code(204).send();
    },
  );

  app.get(
    '/v1/users/:userId/sessions',
    { onRequest: requireScope('sessions:read') },
    async (request) => {
      const params = parseInput(schemas.userParams, request.params, 'path');
      const sessions = await manager.listForUser(params.userId);
      return { sessions: sessions.map(presentSession) };
    },
  );

  app.delete(
    '/v1/users/:userId/sessions',
    { onRequest: requireScope('sessions:admin') },
    async (request) => {
      const params = parseInput(schemas.userParams, request.params, 'path');
      const { except } = parseInput(schemas.revokeUserQuery, request.query, 'query');
      const revoked = await manager.revokeAllForUser(params.userId, {
        ...(except ? { except: { id: except } } : {}),
        cause: adminCauseOf(request, 'admin'),
      });
      return { revoked };
    },
  );
}
