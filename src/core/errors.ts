/**
 * Every error clawsession throws on purpose is a `ClawsessionError` with a
 * stable `code`. Callers branch on `code`, never on `message`; the HTTP layer
 * maps codes to status codes in one table.
 */
export class ClawsessionError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** The token is empty or not 32 base64url-encoded bytes. */
export class InvalidTokenError extends ClawsessionError {
  constructor(message = 'session token is malformed') {
    super('ERR_SESSION_TOKEN_INVALID', message);
  }
}

/** No live session has this token or id (missing, revoked or expired). */
export class SessionNotFoundError extends ClawsessionError {
  constructor(message = 'session not found') {
    super('ERR_SESSION_NOT_FOUND', message);
  }
}

/** `create` was given an id that already exists. */
export class SessionExistsError extends ClawsessionError {
  constructor(message = 'a session with this id already exists') {
    super('ERR_SESSION_EXISTS', message);
  }
}

/** An update named an `expectedVersion` that is no longer current. */
export class VersionConflictError extends ClawsessionError {
  readonly expectedVersion: number;
  readonly actualVersion: number;

  constructor(expectedVersion: number, actualVersion: number) {
    super(
      'ERR_SESSION_VERSION_CONFLICT',
      `expected version ${expectedVersion} but the session is at version ${actualVersion}`,
    );
    this.expectedVersion = expectedVersion;
    this.actualVersion = actualVersion;
  }
}

/** Session data, once encoded, is larger than the configured cap. */
export class SessionDataTooLargeError extends ClawsessionError {
  readonly size: number;
  readonly limit: number;

  constructor(size: number, limit: number) {
    super(
      'ERR_SESSION_DATA_TOO_LARGE',
      `session data is ${size} bytes encoded; the limit is ${limit}`,
    );
    this.size = size;
    this.limit = limit;
  }
}

/** Input to a public method has the wrong shape or type. */
export class ValidationError extends ClawsessionError {
  constructor(message: string) {
    super('ERR_VALIDATION', message);
  }
}

/** A patch document is not a well-formed list of supported operations. */
export class PatchMalformedError extends ClawsessionError {
  constructor(message: string) {
    super('ERR_PATCH_MALFORMED', message);
  }
}

/**
 * A path names `__proto__`, `constructor` or `prototype`, or a part of the
 * data that only its owner writes (`message` then says which).
 */
export class ForbiddenPathError extends ClawsessionError {
  constructor(path: string, message = `path ${JSON.stringify(path)} names a forbidden segment`) {
    super('ERR_PATCH_FORBIDDEN_PATH', message);
  }
}

/** A well-formed operation cannot apply to this data (missing target, wrong type). */
export class PatchTargetError extends ClawsessionError {
  constructor(message: string) {
    super('ERR_PATCH_TARGET', message);
  }
}

/** A `test` operation did not match, so the whole patch was refused. */
export class PatchTestFailedError extends ClawsessionError {
  constructor(path: string) {
    super('ERR_PATCH_TEST_FAILED', `test failed at ${JSON.stringify(path)}`);
  }
}

/** Stored data could not be decrypted or decoded (unknown key id, tampering, corruption). */
export class DecodeError extends ClawsessionError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_SESSION_DECODE', message, options);
  }
}

/** The backing store cannot be reached or did not answer in time; nothing was changed by this call. */
export class StoreUnavailableError extends ClawsessionError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_STORE_UNAVAILABLE', message, options);
  }
}

/**
 * A message broker (NATS, RabbitMQ) cannot be reached, or did not
 * acknowledge everything it was handed (a time-out, a closed channel, a
 * refusal). Part of the batch may have got through; the relay sends it all
 * again and consumers deduplicate by event id.
 */
export class BrokerUnavailableError extends ClawsessionError {
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_BROKER_UNAVAILABLE', message, options);
  }
}

/**
 * The store is up but has more requests waiting for it than it takes (a full
 * pool queue, or a wait for a connection past its limit); nothing was changed
 * by this call. Retrying after `retryAfter` seconds is expected to succeed.
 */
export class StoreBusyError extends ClawsessionError {
  /** Seconds after which a retry is worth it. */
  readonly retryAfter: number;

  constructor(message: string, options: ErrorOptions & { retryAfter?: number } = {}) {
    super('ERR_STORE_BUSY', message, options);
    this.retryAfter = options.retryAfter ?? 1;
  }
}

/** A store opened with `mustExist` is not there (a SQLite file that does not exist); nothing was created. */
export class StoreNotFoundError extends ClawsessionError {
  constructor(message: string) {
    super('ERR_STORE_NOT_FOUND', message);
  }
}

/** An events feature (the audit log, the relay) was asked of a store that keeps no outbox. */
export class EventsDisabledError extends ClawsessionError {
  constructor() {
    super(
      'ERR_EVENTS_DISABLED',
      'this gateway keeps no event log: set `events` in its config to record session events',
    );
  }
}

/** Configuration failed validation. */
export class ConfigError extends ClawsessionError {
  constructor(message: string) {
    super('ERR_CONFIG_INVALID', message);
  }
}

/** A backend's driver package is not installed; the message names the package to install. */
export class MissingDriverError extends ClawsessionError {
  /** The npm package the backend needs, such as `redis`. */
  readonly packageName: string;

  constructor(backend: string, packageName: string, options?: ErrorOptions) {
    super(
      'ERR_DRIVER_MISSING',
      `the ${backend} backend needs the package ${JSON.stringify(packageName)}: npm install ${packageName}`,
      options,
    );
    this.packageName = packageName;
  }
}
