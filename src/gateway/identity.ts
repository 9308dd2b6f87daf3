import type { FastifyReply, FastifyRequest } from 'fastify';
import { type Session, type SessionManager, ValidationError } from '../core/index.js';
import type { HttpSessions } from '../http/index.js';
import { beginFastifySession, finishFastifySession, grantedRoles } from '../http/index.js';
import {
  type AccessTokenClaims,
  type AccessTokens,
  type IdentityVia,
  TokenExpiredError,
  TokenInvalidError,
  TokenRevokedError,
} from '../tokens/index.js';
import type { AnomalyGuard } from './anomaly-guard.js';

/** Who a proxied request is for: what the gateway signs into the upstream's context. */
export interface GatewayIdentity {
  userId: string;
  /** The stored session id (SHA-256 of the token), never the token itself. */
  sessionId: string | null;
  roles: string[];
  scopes: string[];
  via: IdentityVia;
}

/**
 * What `Authenticate` gives when it answered the request itself (a CSRF
 * refusal): the caller stops. `reply.sent` cannot tell, since it turns true
 * only once the async onSend hooks have run and the response is written.
 */
export const REQUEST_ANSWERED: unique symbol = Symbol('clawsession.requestAnswered');

/** Authenticates one request: who it is for, null for nobody, or REQUEST_ANSWERED. */
export type Authenticate = (
  request: FastifyRequest,
  reply: FastifyReply,
) => Promise<GatewayIdentity | null | typeof REQUEST_ANSWERED>;

export interface AuthenticatorOptions {
  sessions: HttpSessions;
  accessTokens: AccessTokens;
  manager: SessionManager;
  /** Anomaly detection: a session it flagged for a step-up or revoked is refused with a 401. */
  anomalies?: AnomalyGuard;
}

/** The Bearer scheme, whatever follows: a malformed token is refused, never read as "no token". */
const BEARER = /^Bearer(?:[ \t]|$)/i;

/**
 * The gateway's `authenticate`: a bearer access token whose session is still
 * live, or else the session cookie, checked exactly as the Fastify adapter
 * checks it (binding, CSRF on unsafe methods, scheduled rotation, whose new
 * cookie is set on the reply).
 */
export function createAuthenticator(options: AuthenticatorOptions): Authenticate {
  return async (request, reply) => {
    const authorization = request.headers.authorization;
    if (typeof authorization === 'string' && BEARER.test(authorization))
      return fromAccessToken(options, request, authorization.slice('Bearer'.length).trim());

    const exchange = await beginFastifySession(options.sessions, request, reply);
    if (!exchange) return REQUEST_ANSWERED;
    const { session } = exchange;
    if (session.userId !== null && session.id !== null && session.times !== null) {
      const { id, userId, times } = session;
      await options.anomalies?.checkRequest(request, { id, userId, createdAt: times.createdAt });
    }
    await finishFastifySession(exchange, reply);
    if (session.userId === null || session.id === null) return null;
    return {
      userId: session.userId,
      sessionId: session.id,
      roles: session.roles,
      scopes: [],
      via: 'session',
    };
  };
}

async function fromAccessToken(
  options: AuthenticatorOptions,
  request: FastifyRequest,
  token: string,
): Promise<GatewayIdentity | null> {
  let claims: Awaited<ReturnType<AccessTokens['verify']>>;
  try {
    claims = await options.accessTokens.verify(token);
  } catch (error) {
    if (
      error instanceof TokenInvalidError ||
      error instanceof TokenExpiredError ||
      error instanceof TokenRevokedError
    )
      return null;
    throw error;
  }
  const session = await liveSessionOf(options.manager, claims);
  if (session === null) return null;
  await options.anomalies?.checkRequest(request, {
    id: session.id,
    userId: session.userId,
    createdAt: session.createdAt,
  });
  const roles = grantedRoles(session.data);
  return {
    userId: session.userId,
    sessionId: session.id,
    roles,
    // The token's scope is the roles at its issue: one taken from the user since is gone at once.
    scopes: claims.scope.filter((scope) => roles.includes(scope)),
    via: 'access-token',
  };
}

/**
 * The session a verified access token was issued from, if it is still live
 * and still the token's user's: a token outlives a logout by up to its ttl,
 * so the session decides whether it still counts.
 */
export async function liveSessionOf(
  manager: SessionManager,
  claims: Pick<AccessTokenClaims, 'sid' | 'sub'>,
): Promise<Session | null> {
  const session = await manager.get({ id: claims.sid }).catch((error: unknown) => {
    if (error instanceof ValidationError) return null; // a `sid` that names no session at all
    throw error;
  });
  return session !== null && session.userId === claims.sub ? session : null;
}
