import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  type EventCause,
  expiresAt,
  type Session,
  type SessionManager,
  SessionNotFoundError,
  type SessionTimes,
  sessionTimes,
} from '../../core/index.js';
import {
  fastifySessions,
  grantedRoles,
  HttpError,
  type HttpSessions,
  normalizeIp,
  ROLES_DATA_KEY,
  rateLimitedResponse,
  toErrorResponse,
} from '../../http/index.js';
import {
  type AccessTokenClaims,
  type AccessTokens,
  RefreshTokenInvalidError,
  type RefreshTokens,
  type SigningKeys,
} from '../../tokens/index.js';
import { noteUser } from '../access-log.js';
import type { AnomalyGuard } from '../anomaly-guard.js';
import { parseInput, sendRateLimited } from '../fastify-defaults.js';
import { liveSessionOf } from '../identity.js';
import type { ServiceEventLog } from '../service-events.js';
import type { CredentialSource } from './credentials.js';
import { LoginFailedError } from './errors.js';
import { attemptLogin, type LoginLimiters, type LoginOutcome } from './login-attempt.js';
import type { LoginChallenges } from './login-challenge.js';
import { usernameKey } from './username.js';

export interface AuthRoutesDeps {
  /** Cookie sessions; registered here, in the context of the cookie routes only. */
  sessions: HttpSessions;
  manager: SessionManager;
  credentials: CredentialSource;
  /** Needs a denylist: logout with a bearer token revokes the token's `jti`. */
  accessTokens: AccessTokens;
  refreshTokens: RefreshTokens;
  signingKeys: SigningKeys;
  loginLimiter: LoginLimiters;
  /** The proofs of work asked of an account past its ceiling of failed logins. */
  loginChallenges: LoginChallenges;
  /**
   * Anomaly detection: shown every login and every use of a session here;
   * refuses logins from an address flagged for credential stuffing (429) and
   * sessions it flagged for a step-up or revoked (401).
   */
  anomalies?: AnomalyGuard;
  /** Records `login.failed` events in the store's outbox, when it keeps one. */
  events?: ServiceEventLog;
}

/** The caller's session, and the access token it came with when it was not the cookie. */
interface Caller {
  id: string;
  userId: string;
  roles: string[];
  times: SessionTimes;
  claims: AccessTokenClaims | null;
}

/** Credential bodies are small; an unauthenticated route takes no more than this. */
const AUTH_BODY_LIMIT = 8 * 1024;
const JWKS_MAX_AGE_SECONDS = 300;

const schemas = {
  credentials: z.strictObject({
    username: z.string().min(1).max(256),
    password: z.string().min(1).max(4096),
    /** The solved challenge of an earlier ERR_PROOF_OF_WORK_REQUIRED. */
    proofOfWork: z
      .strictObject({ challenge: z.string().max(256), nonce: z.string().max(64) })
      .optional(),
  }),
  refresh: z.strictObject({ refreshToken: z.string().min(1).max(256) }),
  sessionParams: z.strictObject({
    id: z.string().regex(/^[0-9a-f]{64}$/, 'must be a 64-character lowercase hex session id'),
  }),
};

/**
 * The user-facing auth API. Cookie routes: `POST /auth/login`, `POST
 * /auth/logout`, `GET /auth/session`, `GET /auth/sessions`, `DELETE
 * /auth/sessions/:id`, `POST /auth/sessions/revoke-others` (the session
 * plugin's CSRF checks apply; all but login also take `Authorization: Bearer
 * <access token>`). Token routes for API clients, without cookies or CSRF:
 * `POST /auth/token`, `POST /auth/refresh`. And `GET /.well-known/jwks.json`.
 * Do not also register `fastifySessions` on an enclosing context.
 */
export function registerAuthRoutes(app: FastifyInstance, deps: AuthRoutesDeps): void {
  app.get('/.well-known/jwks.json', async (_request, reply) => {
    reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
    return deps.signingKeys.jwks();
  });

  app.register(async (tokens) => {
    tokens.post('/auth/token', { bodyLimit: AUTH_BODY_LIMIT }, async (request, reply) => {
      const body = parseInput(schemas.credentials, request.body, 'body');
      if (await deps.anomalies?.refuseLogin(request, reply)) return reply;
      const outcome = await login(deps, request, body);
      if (!outcome.allowed) return sendRefusal(reply, outcome);
      noteUser(request, outcome.user.userId);
      const { session } = await deps.manager.create({
        userId: outcome.user.userId,
        data: { [ROLES_DATA_KEY]: outcome.user.roles },
        ip: normalizeIp(request.ip),
        userAgent: request.headers['user-agent'] ?? null,
      });
      await deps.anomalies?.loginSucceeded(request, session);
      const refresh = await deps.refreshTokens.issue({
        sessionId: session.id,
        userId: session.userId,
      });
      return tokenPair(deps.accessTokens, session, refresh.token);
    });

    tokens.post('/auth/refresh', { bodyLimit: AUTH_BODY_LIMIT }, async (request) => {
      const { refreshToken } = parseInput(schemas.refresh, request.body, 'body');
      const rotated = await deps.refreshTokens.rotate(refreshToken);
      const session = await deps.manager.get({ id: rotated.sessionId });
      if (!session)
        throw new RefreshTokenInvalidError('the session of this refresh token has ended');
      return tokenPair(deps.accessTokens, session, rotated.token);
    });
  });

  app.register(async (cookies) => {
    await cookies.register(fastifySessions(deps.sessions));

    cookies.post('/auth/login', { bodyLimit: AUTH_BODY_LIMIT }, async (request, reply) => {
      const body = parseInput(schemas.credentials, request.body, 'body');
      if (await deps.anomalies?.refuseLogin(request, reply)) return reply;
      const outcome = await login(deps, request, body);
      if (!outcome.allowed) return sendRefusal(reply, outcome);
      const { userId, roles } = outcome.user;
      await request.session.login(userId, {}, { roles });
      noteUser(request, userId);
      const { id, times } = request.session;
      if (id !== null && times !== null)
        await deps.anomalies?.loginSucceeded(request, { id, userId, createdAt: times.createdAt });
      return { user: { id: userId, roles }, csrfToken: request.session.csrfToken };
    });

    cookies.post('/auth/logout', async (request, reply) => {
      const claims = await bearerClaims(request, deps.accessTokens);
      if (claims === null) await request.session.destroy();
      else await endTokenSession(deps, claims);
      return reply.code(204).send();
    });

    cookies.get('/auth/session', async (request) => {
      const caller = await callerOf(request, deps);
      return {
        user: { id: caller.userId, roles: caller.roles },
        session: {
          id: caller.id,
          createdAt: iso(caller.times.createdAt),
          lastActiveAt: iso(caller.times.lastActiveAt),
          expiresAt: iso(caller.times.expiresAt),
        },
        ...(caller.claims === null ? { csrfToken: request.session.csrfToken } : {}),
      };
    });

    cookies.get('/auth/sessions', async (request) => {
      const caller = await callerOf(request, deps);
      const sessions = await deps.manager.listForUser(caller.userId);
      sessions.sort((a, b) => b.lastActiveAt - a.lastActiveAt);
      return {
        sessions: sessions.map((session) => ({
          id: session.id,
          createdAt: iso(session.createdAt),
          lastActiveAt: iso(session.lastActiveAt),
          expiresAt: iso(expiresAt(session)),
          ip: session.ip,
          userAgent: session.userAgent,
          current: session.id === caller.id,
        })),
      };
    });

    cookies.delete('/auth/sessions/:id', async (request, reply) => {
      const { id } = parseInput(schemas.sessionParams, request.params, 'path');
      const caller = await callerOf(request, deps);
      const target = await deps.manager.get({ id }, { touch: false });
      // Someone else's session is as missing as no session, so ids cannot be probed.
      if (!target || target.userId !== caller.userId) throw new SessionNotFoundError();
      if (target.id !== caller.id)
        await deps.manager.revoke({ id }, { cause: SIGNED_OUT_ELSEWHERE });
      else if (caller.claims === null) await request.session.destroy();
      else await endTokenSession(deps, caller.claims);
      return reply.code(204).send();
    });

    cookies.post('/auth/sessions/revoke-others', async (request) => {
      const caller = await callerOf(request, deps);
      const revoked = await deps.manager.revokeAllForUser(caller.userId, {
        except: { id: caller.id },
        cause: SIGNED_OUT_ELSEWHERE,
      });
      return { revoked };
    });
  });
}

/** The user ended one of their other sessions, from the one they are using. */
const SIGNED_OUT_ELSEWHERE: EventCause = { actor: 'user', reason: 'signed-out-elsewhere' };

function loginGuards(deps: AuthRoutesDeps) {
  return { limiters: deps.loginLimiter, challenges: deps.loginChallenges };
}

/** One login attempt under the limits; a wrong password is also shown to anomaly detection. */
async function login(
  deps: AuthRoutesDeps,
  request: FastifyRequest,
  body: z.output<typeof schemas.credentials>,
): Promise<LoginOutcome> {
  try {
    return await attemptLogin(deps.credentials, loginGuards(deps), {
      ip: clientIp(request),
      ...body,
    });
  } catch (error) {
    if (error instanceof LoginFailedError) {
      await deps.anomalies?.loginFailed(request, usernameKey(body.username));
      await deps.events?.record('login.failed', null, {
        username: usernameKey(body.username),
        ip: clientIp(request),
      });
    }
    throw error;
  }
}

/**
 * A 429: rate limited, or (the account past its ceiling) a proof of work
 * required, with the challenge in `error.details.proofOfWork`. Its
 * `Retry-After` is when the ceiling frees up, for a client that would rather wait.
 */
function sendRefusal(reply: FastifyReply, outcome: LoginOutcome & { allowed: false }) {
  if (outcome.proofOfWork === undefined) return sendRateLimited(reply, outcome.limited);
  const { challenge, rejected } = outcome.proofOfWork;
  const why = rejected === 'missing' ? '' : ` (the proof sent was ${rejected})`;
  const { status, body } = toErrorResponse(
    new HttpError(
      'ERR_PROOF_OF_WORK_REQUIRED',
      `this account had too many failed logins; solve the challenge and send it as proofOfWork${why}`,
      { proofOfWork: challenge },
    ),
  );
  const { headers } = rateLimitedResponse(outcome.limited);
  return reply.code(status).headers(headers).send(body);
}

/** The address the limits are charged to, as Fastify resolved it (its `trustProxy` decides). */
function clientIp(request: FastifyRequest): string {
  return normalizeIp(request.ip) ?? request.ip;
}

/** The verified access token of an `Authorization: Bearer` header; null without the header. */
async function bearerClaims(
  request: FastifyRequest,
  accessTokens: AccessTokens,
): Promise<AccessTokenClaims | null> {
  const header = request.headers.authorization;
  if (header === undefined) return null;
  const token = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(header)?.[1];
  if (token === undefined)
    throw new HttpError('ERR_UNAUTHORIZED', 'Authorization must be "Bearer <access token>"');
  return accessTokens.verify(token);
}

/**
 * The session of a bearer token (verified, its session live) or else the
 * cookie's, as the session plugin read it for this request; 401 without one.
 */
async function callerOf(request: FastifyRequest, deps: AuthRoutesDeps): Promise<Caller> {
  const claims = await bearerClaims(request, deps.accessTokens);
  const caller = claims === null ? cookieCaller(request) : await tokenCaller(deps, claims);
  if (caller === null) {
    throw new HttpError(
      'ERR_UNAUTHORIZED',
      claims === null ? 'no signed-in session' : 'the session of this access token has ended',
    );
  }
  noteUser(request, caller.userId);
  await deps.anomalies?.checkRequest(request, {
    id: caller.id,
    userId: caller.userId,
    createdAt: caller.times.createdAt,
  });
  return caller;
}

function cookieCaller(request: FastifyRequest): Caller | null {
  const { id, userId, roles, times } = request.session;
  if (id === null || userId === null || times === null) return null;
  return { id, userId, roles, times, claims: null };
}

async function tokenCaller(
  deps: AuthRoutesDeps,
  claims: AccessTokenClaims,
): Promise<Caller | null> {
  const session = await liveSessionOf(deps.manager, claims);
  if (session === null) return null;
  return {
    id: session.id,
    userId: session.userId,
    roles: grantedRoles(session.data),
    times: sessionTimes(session),
    claims,
  };
}

/** Bearer logout: the session ends, and the token is refused until it would have expired. */
async function endTokenSession(deps: AuthRoutesDeps, claims: AccessTokenClaims): Promise<void> {
  await deps.manager.revoke({ id: claims.sid }, { cause: { actor: 'user', reason: 'logout' } });
  await deps.accessTokens.revoke(claims);
}

async function tokenPair(accessTokens: AccessTokens, session: Session, refreshToken: string) {
  const { token, claims } = await accessTokens.issue({
    userId: session.userId,
    sessionId: session.id,
    scope: grantedRoles(session.data),
  });
  return {
    accessToken: token,
    tokenType: 'Bearer' as const,
    expiresIn: claims.exp - claims.iat,
    refreshToken,
  };
}

function iso(epochMs: number): string {
  return new Date(epochMs).toISOString();
}
