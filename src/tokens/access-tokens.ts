import { randomBytes } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import { LRUCache } from 'lru-cache';
import { ValidationError } from '../core/index.js';
import type { TokenDenylist } from './denylist.js';
import { TokenExpiredError, TokenInvalidError, TokenRevokedError } from './errors.js';
import type { SigningKeys } from './signing-keys.js';

export interface AccessTokensOptions {
  keys: SigningKeys;
  issuer: string;
  audience: string;
  /** Lifetime of an access token in ms. Default 5 minutes. */
  ttl?: number;
  /** Tolerated clock difference between services, in ms. Default 30 seconds. */
  clockSkew?: number;
  /** Where early revocations are kept; without one, `revoke` is refused. */
  denylist?: TokenDenylist;
  /**
   * Most tokens whose signature check is remembered, so that a client sending
   * the same token on every request costs one signature check per token;
   * expiry, the signing key's retirement and the denylist are still checked
   * on every call. Default 10,000; 0 checks every signature every time.
   */
  verifiedMax?: number;
  clock?: () => number;
}

export interface AccessTokenClaims {
  /** The user. */
  sub: string;
  /** The session the token was issued from. */
  sid: string;
  scope: string[];
  jti: string;
  iat: number;
  exp: number;
  iss: string;
  aud: string;
}

/** RFC 9068's media type, checked on verify so that no other kind of JWT passes as an access token. */
const TOKEN_TYPE = 'at+jwt';

/**
 * Short-lived, stateless access tokens: JWTs signed with EdDSA or ES256, the
 * `kid` in the header, the algorithm pinned on verify (so `none` and
 * HMAC/RSA confusion are refused), issuer, audience and expiry checked with a
 * small clock skew, and early revocation by `jti`.
 */
export class AccessTokens {
  readonly ttl: number;
  readonly #options: AccessTokensOptions;
  readonly #clock: () => number;
  readonly #skew: number;
  readonly #verified: LRUCache<
    string,
    { claims: AccessTokenClaims; kid: string | undefined }
  > | null;

  constructor(options: AccessTokensOptions) {
    this.#options = options;
    this.ttl = options.ttl ?? 5 * 60_000;
    this.#skew = options.clockSkew ?? 30_000;
    this.#clock = options.clock ?? Date.now;
    if (!(Number.isSafeInteger(this.ttl) && this.ttl >= 1000))
      throw new ValidationError('ttl must be at least 1000 ms');
    const verifiedMax = options.verifiedMax ?? 10_000;
    if (!(Number.isSafeInteger(verifiedMax) && verifiedMax >= 0))
      throw new ValidationError('verifiedMax must be a non-negative integer');
    this.#verified = verifiedMax > 0 ? new LRUCache({ max: verifiedMax }) : null;
  }

  async issue(input: {
    userId: string;
    sessionId: string;
    scope?: string[];
  }): Promise<{ token: string; claims: AccessTokenClaims }> {
    if (typeof input.userId !== 'string' || input.userId === '')
      throw new ValidationError('userId is required');
    if (typeof input.sessionId !== 'string' || input.sessionId === '')
      throw new ValidationError('sessionId is required');
    const now = Math.floor(this.#clock() / 1000);
    const key = this.#options.keys.current();
    const claims: AccessTokenClaims = {
      sub: input.userId,
      sid: input.sessionId,
      scope: input.scope ?? [],
      jti: randomBytes(16).toString('base64url'),
      iat: now,
      exp: now + Math.ceil(this.ttl / 1000),
      iss: this.#options.issuer,
      aud: this.#options.audience,
    };
    const token = await new SignJWT({ sid: claims.sid, scope: claims.scope.join(' ') })
      .setProtectedHeader({ alg: this.#options.keys.algorithm, kid: key.kid, typ: TOKEN_TYPE })
      .setSubject(claims.sub)
      .setJti(claims.jti)
      .setIssuedAt(claims.iat)
      .setExpirationTime(claims.exp)
      .setIssuer(claims.iss)
      .setAudience(claims.aud)
      .sign(key.privateKey);
    return { token, claims };
  }

  /** The claims of a valid token; otherwise TokenInvalidError, TokenExpiredError or TokenRevokedError. */
  async verify(token: string): Promise<AccessTokenClaims> {
    if (typeof token !== 'string' || token.length === 0 || token.length > 8192)
      throw new TokenInvalidError();
    const now = this.#clock();
    const claims = this.#rememberedClaims(token, now) ?? (await this.#checkSignature(token, now));
    if (await this.#options.denylist?.has(claims.jti, now)) throw new TokenRevokedError();
    return claims;
  }

  /** The claims of a token whose signature was checked before, if its key and lifetime still hold. */
  #rememberedClaims(token: string, now: number): AccessTokenClaims | null {
    const remembered = this.#verified?.get(token);
    if (remembered === undefined) return null;
    if (!this.#options.keys.verificationKey(remembered.kid, now)) {
      this.#verified?.delete(token);
      throw new TokenInvalidError('access token is signed by an unknown or retired key');
    }
    if (now >= remembered.claims.exp * 1000 + Math.floor(this.#skew / 1000) * 1000) {
      this.#verified?.delete(token);
      throw new TokenExpiredError();
    }
    return { ...remembered.claims, scope: [...remembered.claims.scope] };
  }

  async #checkSignature(token: string, now: number): Promise<AccessTokenClaims> {
    let payload: Record<string, unknown>;
    let kid: string | undefined;
    try {
      ({ payload } = await jwtVerify(
        token,
        (header) => {
          kid = header.kid;
          const key = this.#options.keys.verificationKey(header.kid, now);
          if (!key)
            throw new TokenInvalidError('access token is signed by an unknown or retired key');
          return key;
        },
        {
          algorithms: [this.#options.keys.algorithm],
          issuer: this.#options.issuer,
          audience: this.#options.audience,
          typ: TOKEN_TYPE,
          clockTolerance: Math.floor(this.#skew / 1000),
          currentDate: new Date(now),
          requiredClaims: ['sub', 'jti', 'iat', 'exp'],
        },
      ));
    } catch (error) {
      if (error instanceof TokenInvalidError) throw error;
      if (error instanceof errors.JWTExpired)
        throw new TokenExpiredError(undefined, { cause: error });
      throw new TokenInvalidError(undefined, { cause: error });
    }
    if (typeof payload.sid !== 'string' || typeof payload.scope !== 'string')
      throw new TokenInvalidError();
    const claims: AccessTokenClaims = {
      sub: payload.sub as string,
      sid: payload.sid,
      scope: payload.scope === '' ? [] : payload.scope.split(' '),
      jti: payload.jti as string,
      iat: payload.iat as number,
      exp: payload.exp as number,
      iss: payload.iss as string,
      aud: this.#options.audience,
    };
    this.#verified?.set(token, { claims: { ...claims, scope: [...claims.scope] }, kid });
    return claims;
  }

  /** Refuses a still-valid token from now until it expires (e.g. on logout). */
  async revoke(claims: Pick<AccessTokenClaims, 'jti' | 'exp'>): Promise<void> {
    const denylist = this.#options.denylist;
    if (!denylist) throw new ValidationError('revoking access tokens needs a denylist');
    await denylist.add(claims.jti, claims.exp * 1000 + this.#skew, this.#clock());
  }
}
