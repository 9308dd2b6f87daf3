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
