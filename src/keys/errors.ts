import { ClawsessionError } from '../core/index.js';

/** Why a presented API key was refused; for the server's log, never for the caller. */
export type ApiKeyRefusal =
  | 'missing'
  | 'malformed'
  | 'unknown'
  | 'secret-mismatch'
  | 'expired'
  | 'rotated-out';

/**
 * The key is missing, malformed, unknown, revoked, expired, rotated out, or its
 * secret is wrong. One code and one message for all, so that a caller learns
 * nothing about which keys exist; `reason` is for the server's log only.
 */
export class ApiKeyInvalidError extends ClawsessionError {
  readonly reason: ApiKeyRefusal;

  constructor(reason: ApiKeyRefusal) {
    super('ERR_API_KEY_INVALID', 'API key is missing, invalid, revoked or expired');
    this.reason = reason;
  }
}

/** A valid key that lacks the scope the operation requires. */
export class ApiKeyScopeError extends ClawsessionError {
  readonly required: string;

  constructor(required: string) {
    super('ERR_API_KEY_SCOPE', `this API key lacks the scope ${required}`);
    this.required = required;
  }
}

/** No live key has this prefix (never issued, revoked or expired). */
/** No key has the prefix (a field, not in the message, which reaches HTTP clients). */
export class ApiKeyNotFoundError extends ClawsessionError {
  readonly prefix: string;

  constructor(prefix: string) {
    super('ERR_API_KEY_NOT_FOUND', 'no API key has that prefix');
    this.prefix = prefix;
  }
}
