import { randomBytes } from 'node:crypto';
import { createRemoteJWKSet, errors, type JWTVerifyGetKey, jwtVerify, SignJWT } from 'jose';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { ClawsessionError, ConfigError, ValidationError } from '../core/index.js';
import type { SigningKeys } from './signing-keys.js';

/** The request header that carries the context from the gateway to upstream services. */
export const IDENTITY_CONTEXT_HEADER = 'x-clawsession-context';

/**
 * The JWS `typ` of a context, pinned on verify: an access token (`at+jwt`,
 * pinned the same way in access-tokens.ts) never passes as a context, nor a
 * context as an access token, even when the same keys sign both.
 */
const CONTEXT_TYPE = 'clawsession-context+jwt';
const ALGORITHMS = ['EdDSA', 'ES256'];
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const MAX_CONTEXT_LENGTH = 8192;

export type IdentityVia = 'session' | 'access-token' | 'api-key';

/** Who a request is for, as the gateway authenticated it. */
export interface ContextIdentity {
  userId: string;
  /** The stored session id (never the token); null for credentials without a session. */
  sessionId: string | null;
  roles?: string[];
  scopes?: string[];
  via: IdentityVia;
}

/** A verified context, as an upstream service reads it. Times are epoch milliseconds. */
export interface IdentityContext {
  userId: string;
  sessionId: string | null;
  roles: string[];
  scopes: string[];
  via: IdentityVia;
  /** The context's own id (`jti`), for logs and replay checks. */
  id: string;
  issuedAt: number;
  expiresAt: number;
}

/** The identity context is missing, malformed, tampered, expired, of another type, or for another issuer or audience. */
export class IdentityContextError extends ClawsessionError {
  constructor(message = 'identity context is invalid', options?: ErrorOptions) {
    super('ERR_CONTEXT_INVALID', message, options);
  }
}

/** The gateway's key set could not be fetched, so no context can be checked (not the caller's fault). */
export class IdentityContextKeysUnavailableError extends ClawsessionError {
  constructor(
    message = 'the key set for identity contexts is unavailable',
    options?: ErrorOptions,
  ) {
    super('ERR_CONTEXT_KEYS_UNAVAILABLE', message, options);
  }
}

export interface IdentityContextsOptions {
  keys: SigningKeys;
  issuer: string;
  audience: string;
  /** Lifetime of a context in ms. Default 60 seconds: it only has to reach the upstream. */
  ttl?: number;
  /**
   * How long a signed context is handed out again for the same identity and
   * audience, in ms, so that a busy session costs one signature per interval
   * rather than one per request; every context handed out still has at least
   * `ttl - reuseFor` to live. Default half the ttl; 0 signs every time.
   */
  reuseFor?: number;
  /** Most identities whose context is kept for reuse. Default 10,000. */
  reuseMax?: number;
  clock?: () => number;
}

const scopeToken = z
  .string()
  .regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be an RFC 6749 scope token');
const identitySchema = z.object({
  userId: z.string().min(1).max(256),
  sessionId: z.string().min(1).nullable(),
  roles: z.array(z.string().min(1)).optional(),
  scopes: z.array(scopeToken).optional(),
  via: z.enum(['session', 'access-token', 'api-key']),
});

/**
 * Signs the short-lived context the gateway forwards upstream in place of a
 * session credential: a compact JWS (EdDSA or ES256, `kid` in the header)
 * that upstreams check against the gateway's JWKS with `verifyIdentityContext`.
 */
export class IdentityContexts {
  readonly ttl: number;
  readonly reuseFor: number;
  readonly #options: IdentityContextsOptions;
  readonly #clock: () => number;
  readonly #signed: LRUCache<string, { context: string; reuseUntil: number }>;

  constructor(options: IdentityContextsOptions) {
    this.#options = options;
    this.ttl = options.ttl ?? 60_000;
    this.#clock = options.clock ?? Date.now;
    if (!(Number.isSafeInteger(this.ttl) && this.ttl >= 1000))
      throw new ValidationError('ttl must be at least 1000 ms');
    this.reuseFor = options.reuseFor ?? Math.floor(this.ttl / 2);
    if (!(Number.isSafeInteger(this.reuseFor) && this.reuseFor >= 0 && this.reuseFor < this.ttl))
      throw new ValidationError('reuseFor must be an integer from 0 to below the ttl, in ms');
    const max = options.reuseMax ?? 10_000;
    if (!(Number.isSafeInteger(max) && max > 0))
      throw new ValidationError('reuseMax must be a positive integer');
    this.#signed = new LRUCache({ max });
  }

  /**
   * The `X-Clawsession-Context` value for `identity`, for the configured
   * audience or, to keep one upstream from replaying it to another, for
   * `options.audience`.
   */
  async sign(identity: ContextIdentity, options: { audience?: string } = {}): Promise<string> {
    const parsed = identitySchema.safeParse(identity);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ValidationError(
        `invalid identity: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
      );
    }
    const { userId, sessionId, roles = [], scopes = [], via } = parsed.data;
    const audience = options.audience ?? this.#options.audience;
    const key = this.#options.keys.current();
    const nowMs = this.#clock();
    const cacheKey = JSON.stringify([key.kid, audience, userId, sessionId, roles, scopes, via]);
    const reusable = this.#signed.get(cacheKey);
    if (reusable !== undefined && nowMs < reusable.reuseUntil) return reusable.context;
    const now = Math.floor(nowMs / 1000);
    const context = await new SignJWT({ sid: sessionId, roles, scope: scopes.join(' '), via })
      .setProtectedHeader({ alg: this.#options.keys.algorithm, kid: key.kid, typ: CONTEXT_TYPE })
      .setSubject(userId)
      .setJti(randomBytes(16).toString('base64url'))
      .setIssuedAt(now)
      .setExpirationTime(now + Math.ceil(this.ttl / 1000))
      .setIssuer(this.#options.issuer)
      .setAudience(audience)
      .sign(key.privateKey);
    // Whole seconds in the token: reuse ends early enough that `ttl - reuseFor` is always left.
    if (this.reuseFor > 0) {
      this.#signed.set(cacheKey, { context, reuseUntil: now * 1000 + this.reuseFor });
    }
    return context;
  }
}

export interface VerifyIdentityContextOptions {
  /** The gateway's JWKS URL (fetched and cached per URL), or a jose key lookup. */
  jwks: URL | string | JWTVerifyGetKey;
  issuer: string;
  audience: string;
  /** Tolerated clock difference with the gateway, in ms. Default 5 seconds. */
  clockTolerance?: number;
  /** Milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number;
}

const claimsSchema = z.object({
  sub: z.string().min(1),
  sid: z.string().min(1).nullable(),
  roles: z.array(z.string()),
  scope: z.string(),
  via: z.enum(['session', 'access-token', 'api-key']),
  jti: z.string().min(1),
  iat: z.number(),
  exp: z.number(),
});

/**
 * For upstream services: the identity in an `X-Clawsession-Context` value,
 * checked against the gateway's keys (EdDSA or ES256 only), its type, issuer,
 * audience and expiry. Throws `IdentityContextError` (401) for anything a
 * caller sent wrong, `IdentityContextKeysUnavailableError` (503) when the
 * JWKS cannot be fetched.
 */
export async function verifyIdentityContext(
  header: string | undefined,
  options: VerifyIdentityContextOptions,
): Promise<IdentityContext> {
  if (header === undefined || header === '')
    throw new IdentityContextError('the request carries no identity context');
  if (typeof header !== 'string' || header.length > MAX_CONTEXT_LENGTH || !COMPACT_JWS.test(header))
    throw new IdentityContextError('identity context is not a compact JWS');
  const getKey = keyLookup(options.jwks);
  const now = (options.clock ?? Date.now)();
  let payload: unknown;
  try {
    ({ payload } = await jwtVerify(header, getKey, {
      algorithms: ALGORITHMS,
      typ: CONTEXT_TYPE,
      issuer: options.issuer,
      audience: options.audience,
      clockTolerance: Math.floor((options.clockTolerance ?? 5000) / 1000),
      currentDate: new Date(now),
      requiredClaims: ['sub', 'jti', 'iat', 'exp'],
    }));
  } catch (error) {
    if (error instanceof IdentityContextKeysUnavailableError) throw error;
    const message = error instanceof errors.JWTExpired ? 'identity context has expired' : undefined;
    throw new IdentityContextError(message, { cause: error });
  }
  const claims = claimsSchema.safeParse(payload);
  if (!claims.success) throw new IdentityContextError('identity context claims are malformed');
  const { sub, sid, roles, scope, via, jti, iat, exp } = claims.data;
  return {
    userId: sub,
    sessionId: sid,
    roles,
    scopes: scope === '' ? [] : scope.split(' '),
    via,
    id: jti,
    issuedAt: iat * 1000,
    expiresAt: exp * 1000,
  };
}

/** Request headers as node:http (`req.headers`) or the Fetch API (`Headers`) hold them. */
export type HeaderSource =
  | { get(name: string): string | null }
  | Readonly<Record<string, string | readonly string[] | undefined>>;

/** `verifyIdentityContext` on the context header of a request, whatever the framework. */
export function identityFromRequest(
  headers: HeaderSource,
  options: VerifyIdentityContextOptions,
): Promise<IdentityContext> {
  const value =
    typeof headers.get === 'function'
      ? (headers as { get(name: string): string | null }).get(IDENTITY_CONTEXT_HEADER)
      : (headers as Record<string, string | readonly string[] | undefined>)[
          IDENTITY_CONTEXT_HEADER
        ];
  // A header sent twice is malformed, never one of the two picked at random.
  return verifyIdentityContext(typeof value === 'string' ? value : value?.join(', '), options);
}

const remoteKeySets = new Map<string, JWTVerifyGetKey>();

/**
 * The key lookup for `jwks`. Only a key the set does not hold is the
 * caller's fault; any other failure to get keys means the set is unreachable.
 */
function keyLookup(jwks: VerifyIdentityContextOptions['jwks']): JWTVerifyGetKey {
  const lookup = typeof jwks === 'function' ? jwks : remoteKeySet(jwks);
  return async (protectedHeader, token) => {
    try {
      return await lookup(protectedHeader, token);
    } catch (error) {
      if (
        error instanceof errors.JWKSNoMatchingKey ||
        error instanceof errors.JWKSMultipleMatchingKeys
      )
        throw error;
      throw new IdentityContextKeysUnavailableError(undefined, { cause: error });
    }
  };
}

/** One jose remote key set per URL, so its cache and cool-down are shared by every request. */
function remoteKeySet(jwks: URL | string): JWTVerifyGetKey {
  let url: URL;
  try {
    url = new URL(jwks);
  } catch {
    throw new ConfigError('jwks must be an absolute http(s) URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new ConfigError('jwks must be an absolute http(s) URL');
  let set = remoteKeySets.get(url.href);
  if (!set) {
    set = createRemoteJWKSet(url);
    remoteKeySets.set(url.href, set);
  }
  return set;
}
