import { ClawsessionError } from '../../core/index.js';

/**
 * A login or token request failed: unknown user or wrong password, always
 * the same error, so that a response never tells which part was wrong.
 */
export class LoginFailedError extends ClawsessionError {
  constructor() {
    super('ERR_LOGIN_FAILED', 'the username or password is incorrect');
  }
}

/*
 * The name is a field, not part of the message: messages reach HTTP clients,
 * and no error repeats what a request sent.
 */

/** `add` named a user who already exists (usernames compare case-insensitively). */
export class UserExistsError extends ClawsessionError {
  readonly username: string;

  constructor(username: string) {
    super('ERR_USER_EXISTS', 'a user of that name already exists');
    this.username = username;
  }
}

export class UserNotFoundError extends ClawsessionError {
  readonly username: string;

  constructor(username: string) {
    super('ERR_USER_NOT_FOUND', 'no user has that name');
    this.username = username;
  }
}

/** A new password breaks the password policy (see `PASSWORD_POLICY`). */
export class PasswordPolicyError extends ClawsessionError {
  constructor(message: string) {
    super('ERR_PASSWORD_POLICY', message);
  }
}

/**
 * The upstream auth service could not answer the credential check (down,
 * timed out, or answered something other than success or refusal). Not a
 * failed login: the caller gets a 503 and may retry.
 */
export class AuthUpstreamUnavailableError extends ClawsessionError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_AUTH_UPSTREAM_UNAVAILABLE', message, options);
  }
}
