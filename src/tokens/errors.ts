import { ClawsessionError } from '../core/index.js';

/** The token is malformed, tampered, signed by an unknown or retired key, or for another issuer or audience. */
export class TokenInvalidError extends ClawsessionError {
  constructor(message = 'access token is invalid', options?: ErrorOptions) {
    super('ERR_TOKEN_INVALID', message, options);
  }
}

export class TokenExpiredError extends ClawsessionError {
  constructor(message = 'access token has expired', options?: ErrorOptions) {
    super('ERR_TOKEN_EXPIRED', message, options);
  }
}

/** The token was revoked before its expiry (its `jti` is on the denylist). */
export class TokenRevokedError extends ClawsessionError {
  constructor(message = 'access token has been revoked') {
    super('ERR_TOKEN_REVOKED', message);
  }
}

/** The refresh token is malformed, unknown, expired, or its session has ended. */
export class RefreshTokenInvalidError extends ClawsessionError {
  constructor(message = 'refresh token is invalid') {
    super('ERR_REFRESH_TOKEN_INVALID', message);
  }
}

/**
 * A refresh token that had already been rotated was used again outside the
 * grace window: someone holds a stolen copy. The family and its session are revoked.
 */
export class RefreshTokenReusedError extends ClawsessionError {
  constructor() {
    super(
      'ERR_REFRESH_TOKEN_REUSED',
      'refresh token was already used; the session has been revoked',
    );
  }
}
